"""Hybrid retrieval: dense (Chroma) + BM25, fused by reciprocal rank.

Dense search finds paraphrases; BM25 finds the names and numbers news
questions hinge on. Reciprocal rank fusion needs no score calibration between
the two. With a reference date, a recency prior favours articles published in
the question's time frame ("this week", "last month", "in 2021"; the week
before the reference date when it names none).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import date
from typing import Any, Literal

from llama_index.core.base.base_retriever import BaseRetriever
from llama_index.core.base.embeddings.base import BaseEmbedding
from llama_index.core.schema import NodeWithScore, QueryBundle
from llama_index.core.vector_stores.types import (
    FilterCondition,
    FilterOperator,
    MetadataFilter,
    MetadataFilters,
    VectorStoreQuery,
)

from rag.bm25 import BM25Index
from rag.question import TimeFrame, time_frame
from rag.store import ChunkStore, store_errors
from rag.types import Filters

Mode = Literal["dense", "bm25", "hybrid"]
RRF_K = 60


class HybridRetriever(BaseRetriever):
    """Dense + BM25 retrieval over one corpus with metadata filters."""

    def __init__(
        self,
        *,
        store: ChunkStore,
        embedder: BaseEmbedding,
        bm25: BM25Index,
        top_k: int = 8,
        candidates: int = 50,
        recency_weight: float = 0.5,
        mode: Mode = "hybrid",
    ) -> None:
        """``candidates`` per retriever are fused into ``top_k`` results."""
        super().__init__()
        self.store = store
        self.embedder = embedder
        self.bm25 = bm25
        self.top_k = top_k
        self.candidates = candidates
        self.recency_weight = recency_weight
        self.mode: Mode = mode
        self._vector_collection = store.collection()
        self._vector_store = store.vector_store()

    def _retrieve(self, query_bundle: QueryBundle) -> list[NodeWithScore]:
        return self.search(query_bundle.query_str)

    def search(
        self, question: str, filters: Filters | None = None, *, k: int | None = None, mode: Mode | None = None
    ) -> list[NodeWithScore]:
        """The ``k`` best chunks for ``question``, best first, scored by fused rank."""
        filters = filters or Filters()
        k = k or self.top_k
        mode = mode or self.mode
        rankings: list[list[str]] = []
        nodes: dict[str, NodeWithScore] = {}
        if mode in ("dense", "hybrid"):
            dense = self._dense(question, filters)
            rankings.append([n.node.node_id for n in dense])
            nodes.update({n.node.node_id: n for n in dense})
        if mode in ("bm25", "hybrid"):
            hits = self.bm25.search(question, self.candidates, filters)
            rankings.append([cid for cid, _ in hits])
        fused = _rrf(rankings)
        frame = time_frame(question, filters.reference_date)
        if frame is not None and self.recency_weight > 0:
            missing = [cid for cid in fused if cid not in nodes]
            nodes.update({cid: NodeWithScore(node=n, score=None) for cid, n in self.store.fetch(missing).items()})
            for cid in fused:
                if cid in nodes:
                    fused[cid] *= 1.0 + self.recency_weight * recency(
                        nodes[cid].node.metadata.get("published_day"), frame
                    )
        best = sorted(fused, key=lambda cid: (-fused[cid], cid))[: k * 2]
        missing = [cid for cid in best if cid not in nodes]
        nodes.update({cid: NodeWithScore(node=n, score=None) for cid, n in self.store.fetch(missing).items()})
        out = [NodeWithScore(node=nodes[cid].node, score=fused[cid]) for cid in best if cid in nodes]
        return out[:k]

    def _vectors(self) -> Any:
        # The store opens its collection again after the embedded store failed (rag.store._reopen):
        # follow it, so that queries never go to the failed instance.
        collection = self.store.collection()
        if collection is not self._vector_collection:
            self._vector_store, self._vector_collection = self.store.vector_store(), collection
        return self._vector_store

    def _dense(self, question: str, filters: Filters) -> list[NodeWithScore]:
        embedding = self.embedder.get_query_embedding(question)
        query = VectorStoreQuery(
            query_embedding=embedding,
            similarity_top_k=self.candidates,
            filters=_metadata_filters(filters),
        )
        with store_errors(self.store.settings):
            result = self._vectors().query(query)
        out = []
        for node, sim in zip(result.nodes or [], result.similarities or []):
            # ChromaVectorStore reports exp(-cosine distance); report cosine similarity.
            out.append(NodeWithScore(node=node, score=1.0 + math.log(sim) if sim > 0 else None))
        return out


def recency(published_day: object, frame: TimeFrame) -> float:
    """1 for articles published in the question's time frame, decaying outside it:
    fast after it (news of later days cannot be what was asked about), slowly before."""
    if not isinstance(published_day, int) or published_day <= 0:
        return 0.0
    day = date.fromordinal(published_day)
    if frame.holds(day):
        return 1.0
    if day > frame.end:
        return math.exp(-frame.distance(day) / 3)
    return math.exp(-frame.distance(day) / 30)


def _rrf(rankings: Sequence[Sequence[str]]) -> dict[str, float]:
    scores: dict[str, float] = {}
    for ranking in rankings:
        for rank, cid in enumerate(ranking):
            scores[cid] = scores.get(cid, 0.0) + 1.0 / (RRF_K + rank + 1)
    return scores


def _metadata_filters(filters: Filters) -> MetadataFilters | None:
    conds: list[MetadataFilter | MetadataFilters] = []
    if filters.date_from is not None:
        conds.append(MetadataFilter(key="published_day", value=filters.date_from.toordinal(), operator=FilterOperator.GTE))
    if filters.date_to is not None:
        conds.append(MetadataFilter(key="published_day", value=filters.date_to.toordinal(), operator=FilterOperator.LTE))
    if filters.sources:
        conds.append(MetadataFilter(key="source", value=list(filters.sources), operator=FilterOperator.IN))
    if not conds:
        return None
    return MetadataFilters(filters=conds, condition=FilterCondition.AND)
