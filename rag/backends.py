"""Backends that describe themselves, as llm's model plugins do: a registration carries the
name a setting gives, the default model, the setting that names its key variable, how the
chat labels it, and its factory. Embedders (:data:`rag.embed.EMBEDDERS`), generators
(:data:`rag.generators.GENERATORS`) and support judges (:data:`rag.judges.JUDGES`) each keep
one :class:`Registry`; a test or a plugin adds its own with ``register``."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Generic, TypeVar

from rag.errors import ConfigError
from rag.settings import Settings

T = TypeVar("T")


@dataclass(frozen=True)
class Backend(Generic[T]):
    """One registered backend."""

    name: str
    factory: Callable[..., T]
    """Builds the backend; its arguments are the registry's (settings, and for generators a reader)."""
    default_model: str | None = None
    """The model used when the model setting is empty."""
    key_setting: str | None = None
    """The setting that names the environment variable holding its key (``openai_api_key_env``)."""
    describe: Callable[[Settings], str] | None = None
    """How people are told which backend answers (the chat's header); default: its name."""

    def label(self, settings: Settings) -> str:
        """The backend as the chat names it."""
        return self.describe(settings) if self.describe else self.name


class Registry(Generic[T]):
    """The backends of one kind, by name."""

    def __init__(self, setting: str) -> None:
        """``setting``: the setting that picks one (named in errors)."""
        self.setting = setting
        self._backends: dict[str, Backend[T]] = {}

    def register(self, backend: Backend[T]) -> Backend[T]:
        """Add (or replace) ``backend`` under its name."""
        self._backends[backend.name] = backend
        return backend

    def unregister(self, name: str) -> None:
        """Remove the backend called ``name``, if any."""
        self._backends.pop(name, None)

    def names(self) -> list[str]:
        """Names the setting may take, sorted."""
        return sorted(self._backends)

    def get(self, name: str) -> Backend[T]:
        """The backend called ``name``; a :class:`ConfigError` naming the known ones otherwise."""
        try:
            return self._backends[name]
        except KeyError:
            raise ConfigError(f"Unknown {self.setting} '{name}'; known: {', '.join(self.names())}") from None

    def __contains__(self, name: object) -> bool:
        return name in self._backends
