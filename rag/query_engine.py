"""The verified answer behind llama-index's ``QueryEngine`` interface, for llama-index users
who plug it into their own agents, routers and evaluations."""

from __future__ import annotations

from typing import Any

from llama_index.core.base.response.schema import Response
from llama_index.core.query_engine import CustomQueryEngine
from llama_index.core.schema import NodeWithScore, TextNode
from pydantic import Field

from rag.pipeline import Engine
from rag.types import Answer, Filters


class NewsQueryEngine(CustomQueryEngine):
    """``query()`` returns a llama-index ``Response`` whose text is the verified answer and
    whose ``source_nodes`` are the passages it cites (each with its quoted spans in
    ``metadata["quotes"]``); ``metadata["answer"]`` holds the whole :class:`Answer`."""

    engine: Engine = Field(exclude=True)
    filters: Filters | None = None

    def custom_query(self, query_str: str) -> Response:
        """Answer ``query_str`` as :meth:`Engine.ask` does."""
        return to_response(self.engine.ask(query_str, filters=self.filters))


def to_response(answer: Answer) -> Response:
    """An Answer as a llama-index Response: cited passages as source nodes, in citation order."""
    nodes = []
    for c in answer.citations:
        p = c.passage
        meta: dict[str, Any] = {"n": c.n, "url": p.url, "title": p.title, "source": p.source,
                                "published": p.published, "article_id": p.article_id, "deep_link": c.deep_link,
                                "quotes": [p.text[s:e] for s, e in c.spans]}
        node = TextNode(id_=p.chunk_id, text=p.text, metadata=meta, start_char_idx=p.start_char, end_char_idx=p.end_char)
        nodes.append(NodeWithScore(node=node, score=p.score))
    return Response(response=answer.text, source_nodes=nodes,
                    metadata={"status": answer.status, "refused": answer.refused, "answer": answer})
