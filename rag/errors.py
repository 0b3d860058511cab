"""Errors raised by the project, caught only at the boundaries (CLI, API, UI).

Hierarchy::

    RagError
    ├── ConfigError          a setting is unknown, mistyped or inconsistent
    ├── BackendUnavailable   a backend's package, model or key is missing
    ├── BackendError         a backend (embedder, Chroma, LLM) call failed
    ├── IndexNotFound        the corpus has not been ingested
    └── InputError           an input file or record cannot be read

Each message says what failed, the value involved, and how to fix it.
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


class QuestionError(RagError):
    """The question cannot be asked as it stands (empty, too long)."""


class IndexNotFound(RagError):
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
