"""Fakes that are real subclasses of the interfaces they stand in for."""

from __future__ import annotations

import hashlib
import math
import re
from collections.abc import Iterator, Sequence
from datetime import date

from llama_index.core.base.embeddings.base import BaseEmbedding

from rag.generators import Generator
from rag.types import Passage

_WORD = re.compile(r"\w+")


class HashingEmbedder(BaseEmbedding):
    """A deterministic bag-of-words vector from word hashes (no model, instant).

    Similar texts get similar vectors, which is enough for logic tests.
    """

    dim: int = 64
    calls: int = 0
    texts_embedded: int = 0

    def _vector(self, text: str) -> list[float]:
        vec = [0.0] * self.dim
        for word in _WORD.findall(text.lower()):
            h = int.from_bytes(hashlib.blake2b(word.encode(), digest_size=4).digest(), "little")
            vec[h % self.dim] += 1.0
        norm = math.sqrt(sum(v * v for v in vec)) or 1.0
        return [v / norm for v in vec]

    def _get_query_embedding(self, query: str) -> list[float]:
        return self._vector(query)

    async def _aget_query_embedding(self, query: str) -> list[float]:
        return self._vector(query)

    def _get_text_embedding(self, text: str) -> list[float]:
        return self._vector(text)

    def _get_text_embeddings(self, texts: list[str]) -> list[list[float]]:
        self.calls += 1
        self.texts_embedded += len(texts)
        return [self._vector(t) for t in texts]


class ScriptedGenerator(Generator):
    """Replies with queued texts (one per call) and records what it was asked."""

    name = "scripted"

    def __init__(self) -> None:
        self.queue: list[str | Exception] = []
        self.history: list[tuple[str, list[Passage]]] = []
        self.condensed: list[str] = []

    def enqueue(self, *texts: str | Exception) -> ScriptedGenerator:
        """Add replies (an Exception is raised instead of replying)."""
        self.queue.extend(texts)
        return self

    def stream(self, question: str, passages: Sequence[Passage], *, reference: date | None = None) -> Iterator[str]:
        self.history.append((question, list(passages)))
        reply = self.queue.pop(0)
        if isinstance(reply, Exception):
            raise reply
        # Stream word by word, as a server would.
        for i, word in enumerate(reply.split(" ")):
            yield (" " if i else "") + word

    def condense(self, question: str, history: Sequence[tuple[str, str]]) -> str | None:
        if self.condensed:
            return self.condensed.pop(0)
        return None
