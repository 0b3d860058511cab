"""Shared fixtures: a clean environment, a temporary store, the hashing embedder."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from rag import embed
from rag.settings import Settings, load_settings
from tests.fakes import HashingEmbedder

SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(autouse=True)
def clean_environ(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No RAG_/OPENAI_ variables leak in, and no rag.toml is picked up from the cwd."""
    for key in list(os.environ):
        if key.startswith(("RAG_", "OPENAI_", "CHROMA_")):
            monkeypatch.delenv(key)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.chdir(tmp_path)


@pytest.fixture
def hashing() -> Iterator[HashingEmbedder]:
    """Register the hashing embedder as backend 'hashing' for the test's duration."""
    fake = HashingEmbedder()
    embed.register("hashing", lambda settings: fake)
    try:
        yield fake
    finally:
        embed.unregister("hashing")


@pytest.fixture
def settings(tmp_path: Path, hashing: HashingEmbedder) -> Settings:
    """Settings on a fresh store in tmp_path, embedding with the hashing fake."""
    return load_settings(data_dir=tmp_path / "data", corpus="test", embed_backend="hashing")


def needs_shared_data() -> Path:
    """The shared corpus directory, or skip the test with a message."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"{SHARED_DATA} is absent (only the developers' and CI machines have it)")
    return SHARED_DATA


@pytest.fixture(scope="module")
def sample_data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A data dir with the bundled sample ingested by a real `rag ingest` (corpus 'apitest'),
    for the tests that start `rag serve` on it; one per test module."""
    from tests.servers import rag_cli

    d = tmp_path_factory.mktemp("sample")
    assert rag_cli(d, "ingest", "--sample", "--quiet").wait(timeout=300) == 0
    return d
