"""Errors raised by the project, caught only at the boundaries (CLI, API, UI).

Hierarchy::

    RagError
    ├── ConfigError          a setting is unknown, mistyped or inconsistent   (the server's: 500)
    ├── BackendUnavailable   a backend's package, model or key is missing     (503)
    ├── BackendError         a backend (embedder, Chroma, LLM) call failed    (502)
    ├── RequestError         what a caller asked for cannot be served as asked (400)
    │   ├── QuestionError    the question is empty or too long                (422)
    │   └── IndexNotFound    the corpus has not been ingested                 (404)
    └── InputError           an input file or record cannot be read           (400)

Each message says what failed, the value involved, and how to fix it. The statuses in
brackets are the API's (:mod:`ui.http_errors`): 4xx when the caller can fix it, 5xx when
the server's operator must. Foreign errors are translated where their library is used,
one module each: Chroma's in :mod:`rag.store`, OpenAI's in :mod:`rag.openai_client`,
httpx's in :mod:`index.web`.
"""

from __future__ import annotations

from pathlib import Path


class RagError(Exception):
    """Base class of every error this project raises on purpose."""


class ConfigError(RagError):
    """A setting is unknown, has the wrong type, or contradicts the stored corpus."""


class BackendUnavailable(RagError):
    """A backend cannot be used here: its package, model files or key are missing."""


class BackendError(RagError):
    """A call to a backend (embedder, vector store, LLM) failed."""


class RequestError(RagError):
    """What a caller asked for cannot be served as asked (a corpus name that is not one)."""


class QuestionError(RequestError):
    """The question cannot be asked as it stands (empty, too long)."""


class IndexNotFound(RequestError):
    """The requested corpus does not exist in the store."""


class InputError(RagError):
    """One input file, or one record of it, cannot be ingested.

    Carries the file and (1-based) line so that reports can name both.
    """

    def __init__(self, path: Path | str, message: str, *, line: int | None = None) -> None:
        self.path = str(path)
        self.line = line
        self.message = message
        where = f"{self.path}:{line}" if line is not None else self.path
        super().__init__(f"{where}: {message}")
