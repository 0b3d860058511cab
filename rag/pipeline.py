"""Question -> cited, verified Answer. The one path the CLI, UI, API and evals use.

    standalone question (condense a follow-up)
      -> hybrid retrieval with filters -> numbered passages
      -> nothing relevant (below the floor)? refuse, listing the closest passages
      -> generator writes text with [n] markers (streamed), or says the articles
         do not say (the extractive reader decides by meaning; an LLM itself)
      -> every sentence verified against what it cites; unsupported ones dropped
      -> nothing survives? refuse
"""

from __future__ import annotations

import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Iterator, Sequence

import numpy as np
from llama_index.core.base.embeddings.base import BaseEmbedding

from rag import nlp
from rag.bm25 import BM25Index
from rag.condense import offline_condense
from rag.embed import make_embedder
from rag.errors import BackendError, QuestionError
from rag.evidence import evidence_strength, rank_sentences
from rag.generators import ExtractiveGenerator, Generator, make_generator
from rag.judges import make_judge
from rag.prompt import REFUSAL
from rag.reader import Reader
from rag.retrieve import HybridRetriever
from rag.settings import Settings
from rag.store import ChunkStore
from rag.tracing import AnswerTrace
from rag.types import Answer, Filters, Passage, SentenceVerdict
from rag.verify import SupportJudge, verify

log = logging.getLogger(__name__)
# Sentence vectors the reader keeps (about 1.5 KB each).
_VECTOR_CACHE = 8192
History = Sequence[tuple[str, str]]


class Engine:
    """Answers questions over one corpus. Build once, ask many times."""

    def __init__(
        self,
        settings: Settings,
        *,
        store: ChunkStore | None = None,
        embedder: BaseEmbedding | None = None,
        generator: Generator | None = None,
        judge: SupportJudge | None = None,
    ) -> None:
        """Parts not given are built from the settings."""
        self.settings = settings
        # The language pipeline loads (about a second) while the store opens and the
        # embedder compiles, which wait mostly outside the interpreter: a cold
        # `rag ask` pays for the longer of the two, not their sum. Only when this engine
        # reads with it (the extractive reader, the relation judge).
        if settings.generator == "extractive" or settings.verifier == "relations":
            threading.Thread(target=nlp.preload, name="spacy-load", daemon=True).start()
        self.store = store or ChunkStore(settings)
        self.store.collection()  # fail early, with a clear message, if the corpus is missing
        self.embedder = embedder or make_embedder(settings)
        self._vectors: OrderedDict[str, np.ndarray] = OrderedDict()
        self._vectors_lock = threading.Lock()
        self.reader = Reader(embed=self._embed_texts)
        self.generator = generator or make_generator(settings, self.reader)
        self.judge = judge or make_judge(settings.verifier)
        bm25 = BM25Index(self.store)
        self.retriever = HybridRetriever(
            store=self.store,
            embedder=self.embedder,
            bm25=bm25,
            top_k=settings.top_k,
            recency_weight=settings.recency_weight,
            mode=settings.retrieval_mode,
        )

    def _embed_texts(self, texts: list[str]) -> np.ndarray:
        # The reader compares a question with passage sentences: both as "text"
        # embeddings, since it is their meaning, not a search, being compared.
        # Sentences of the passages a conversation keeps returning to are cached.
        with self._vectors_lock:
            found = {t: self._vectors[t] for t in texts if t in self._vectors}
        todo = [t for t in dict.fromkeys(texts) if t not in found]
        if todo:
            vectors = np.asarray(self.embedder.get_text_embedding_batch(todo), dtype=np.float32)
            norms = np.linalg.norm(vectors, axis=1, keepdims=True)
            found.update(zip(todo, vectors / np.where(norms == 0, 1.0, norms)))
            with self._vectors_lock:
                for t in todo:
                    self._vectors[t] = found[t]
                while len(self._vectors) > _VECTOR_CACHE:
                    self._vectors.popitem(last=False)
        return np.stack([found[t] for t in texts])

    def check_question(self, question: str) -> str:
        """``question`` stripped, or :class:`QuestionError` if it is empty or too long; every entry
        point (API, chat, /embed) gets the same check by asking through the engine."""
        question = question.strip()
        if not question:
            raise QuestionError("The question is empty")
        if len(question) > self.settings.max_question_chars:
            raise QuestionError(f"The question is longer than {self.settings.max_question_chars} characters")
        return question

    def search(self, question: str, filters: Filters | None = None, k: int | None = None) -> list[Passage]:
        """Retrieve and number passages for ``question``."""
        return self._passages(self.check_question(question), filters, k)

    def _passages(self, question: str, filters: Filters | None, k: int | None = None) -> list[Passage]:
        # Unchecked: a condensed follow-up may outgrow the question limit its user kept to.
        hits = self.retriever.search(question, filters, k=k)
        return [Passage.from_node(i, hit) for i, hit in enumerate(hits, start=1)]

    def ask(self, question: str, history: History | None = None, filters: Filters | None = None) -> Answer:
        """Answer ``question`` (with the conversation so far in ``history``)."""
        answer: Answer | None = None
        for piece in self.ask_stream(question, history, filters):
            if isinstance(piece, Answer):
                answer = piece
        assert answer is not None
        return answer

    def ask_stream(
        self, question: str, history: History | None = None, filters: Filters | None = None
    ) -> Iterator[str | Answer]:
        """Yield answer text as it is generated, then the verified :class:`Answer`.

        The streamed text is the generator's draft; the final Answer's ``text``
        keeps only verified sentences, so a client replaces the draft with it.
        """
        question = self.check_question(question)
        spans = AnswerTrace(self.settings.corpus, self.generator.name)
        try:
            answer: Answer | None = None
            for piece in self._answer(question, history, filters, spans):
                if isinstance(piece, Answer):
                    answer = piece
                yield piece
        except BaseException as exc:
            spans.fail(exc)
            raise
        if answer is not None:
            spans.finish(answer.status, **{"newsrag.citations": len(answer.citations),
                                           "newsrag.total_ms": answer.timings.get("total_ms", 0.0)})

    def _answer(
        self, question: str, history: History | None, filters: Filters | None, spans: AnswerTrace
    ) -> Iterator[str | Answer]:
        timings: dict[str, float] = {}
        t0 = time.perf_counter()
        with spans.stage("condense", **{"newsrag.follow_up": bool(history)}):
            standalone = self._condense(question, history or ())
        timings["condense_ms"] = elapsed(t0)

        t = time.perf_counter()
        with spans.stage("retrieve") as span:
            passages = self._passages(standalone, filters)
            span.set_attribute("newsrag.passages", len(passages))
        timings["retrieve_ms"] = elapsed(t)
        name = self.generator.name
        if not passages:
            yield self._refusal(question, standalone, "no_evidence", (), name, timings, t0)
            return

        # Only a floor here: whether the passages answer is the generator's call
        # (the extractive reader's by meaning, an LLM's own), and verification checks it.
        strength = evidence_strength(rank_sentences(standalone, passages))
        timings["evidence"] = round(strength, 3)
        if strength < self.settings.refusal_threshold:
            yield self._refusal(question, standalone, "refused", passages, name, timings, t0)
            return

        t = time.perf_counter()
        reference = filters.reference_date if filters is not None else None
        draft: list[str] = []
        with spans.stage("generate", **{"newsrag.generator": name}):
            try:
                for piece in self.generator.stream(standalone, passages, reference=reference):
                    draft.append(piece)
                    yield piece
            except BackendError as exc:
                if not self.settings.llm_fallback or isinstance(self.generator, ExtractiveGenerator):
                    raise
                log.warning("generator %s failed, answering extractively: %s", name, exc)
                name = f"extractive (fallback: {exc})"
                fallback = ExtractiveGenerator(reader=self.reader, answerable=self.settings.answerable_threshold)
                draft = list(fallback.stream(standalone, passages, reference=reference))
                yield "\n" + "".join(draft)
        timings["generate_ms"] = elapsed(t)

        t = time.perf_counter()
        text = "".join(draft).strip()
        # The model's own refusal is not a claim to verify; what it wrote besides is.
        claims = text.replace(REFUSAL, " ").strip()
        with spans.stage("verify") as span:
            checked = verify(claims, passages, self.judge) if claims else None
            if checked is not None:
                span.set_attribute("newsrag.removed_sentences",
                                   sum(1 for v in checked.sentences if v.status == "unsupported"))
        timings["verify_ms"] = elapsed(t)
        if checked is None or not checked.text:
            dropped = checked.sentences if checked is not None else ()
            yield self._refusal(question, standalone, "refused", passages, name, timings, t0, dropped, text)
            return
        timings["total_ms"] = elapsed(t0)
        yield Answer(
            question=question,
            standalone_question=standalone,
            text=checked.text,
            status="answered",
            sentences=checked.sentences,
            citations=checked.citations,
            passages=tuple(passages),
            generator=name,
            timings=timings,
            draft=text,
        )

    def _condense(self, question: str, history: History) -> str:
        if not history:
            return question
        try:
            rewritten = self.generator.condense(question, history)
        except BackendError as exc:
            log.warning("condense failed, using the offline rewrite: %s", exc)
            rewritten = None
        return rewritten or offline_condense(question, history)

    @staticmethod
    def _refusal(
        question: str,
        standalone: str,
        status: str,
        passages: Sequence[Passage],
        generator: str,
        timings: dict[str, float],
        t0: float,
        sentences: tuple[SentenceVerdict, ...] = (),
        draft: str = "",
    ) -> Answer:
        """The articles do not say; ``sentences`` and ``draft``: what the generator wrote, if asked."""
        timings["total_ms"] = elapsed(t0)
        return Answer(
            question=question,
            standalone_question=standalone,
            text=REFUSAL,
            status="refused" if status == "refused" else "no_evidence",
            sentences=sentences,
            citations=(),
            passages=_closest_articles(passages, 3),
            generator=generator,
            timings=timings,
            draft=draft,
        )


def elapsed(start: float) -> float:
    """Milliseconds since ``start`` (a ``perf_counter`` reading)."""
    return round((time.perf_counter() - start) * 1000, 1)


def _closest_articles(passages: Sequence[Passage], n: int) -> tuple[Passage, ...]:
    """The best passage of each of the ``n`` best articles."""
    seen: set[str] = set()
    out: list[Passage] = []
    for p in passages:
        if p.article_id not in seen:
            seen.add(p.article_id)
            out.append(p)
    return tuple(out[:n])

