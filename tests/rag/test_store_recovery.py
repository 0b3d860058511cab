"""The embedded Chroma store recovers from a failed start: a client whose start panics (as
Chroma's Rust core does when the process is out of files) leaves nothing half-started behind,
and the next call opens the store (found by the load test at the open-files limit: every
request, /healthz too, failed until the server was restarted)."""

from __future__ import annotations

import chromadb
import pytest
from chromadb.api.shared_system_client import SharedSystemClient

from rag.errors import BackendError
from rag.settings import Settings
from rag.store import ChunkStore


class Panic(BaseException):
    """What pyo3 raises for a Rust panic: a BaseException, not an Exception."""


def test_a_failed_start_is_forgotten_and_the_next_call_opens_the_store(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = chromadb.PersistentClient
    path = str(settings.chroma_path)

    def panicking(**kwargs: object) -> object:
        SharedSystemClient._identifier_to_system[path] = object()  # registered before it starts, as Chroma does
        raise Panic("Too many open files (os error 24)")

    monkeypatch.setattr(chromadb, "PersistentClient", panicking)
    with pytest.raises(BackendError, match="Too many open files"):
        ChunkStore(settings)
    assert path not in SharedSystemClient._identifier_to_system
    monkeypatch.setattr(chromadb, "PersistentClient", real)
    assert ChunkStore(settings).corpora() == []


def test_interrupts_are_not_swallowed(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    def interrupted(**kwargs: object) -> object:
        raise KeyboardInterrupt

    monkeypatch.setattr(chromadb, "PersistentClient", interrupted)
    with pytest.raises(KeyboardInterrupt):
        ChunkStore(settings)
