"""The engine's own types: what llama-index has no abstraction for.

Retrieved chunks travel as llama-index ``NodeWithScore``; a :class:`Passage` is
one of them numbered for citation. An :class:`Answer` is what ``ask`` returns:
its text, each sentence with its verification verdict, and the citations with
the exact supporting span inside each passage.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from datetime import date
from typing import Any, Literal

from llama_index.core.schema import NodeWithScore


def is_web_url(url: str | None) -> bool:
    """True for an http(s) URL, the only kind a page may link to."""
    from urllib.parse import urlsplit

    return bool(url) and urlsplit(str(url)).scheme.lower() in ("http", "https")


@dataclass(frozen=True)
class Filters:
    """Metadata filters of a question: published date range and sources."""

    date_from: date | None = None
    date_to: date | None = None
    sources: tuple[str, ...] = ()
    reference_date: date | None = None
    """Favour articles published shortly before this date ("this week")."""

    def is_empty(self) -> bool:
        """True if no filter restricts the corpus."""
        return self.date_from is None and self.date_to is None and not self.sources


@dataclass(frozen=True)
class Passage:
    """A retrieved chunk, numbered ``n`` (1-based) as it is cited: ``[n]``."""

    n: int
    chunk_id: str
    text: str
    article_id: str
    url: str
    title: str
    source: str
    published: str
    start_char: int
    end_char: int
    score: float | None

    @classmethod
    def from_node(cls, n: int, hit: NodeWithScore) -> Passage:
        """Number a retrieved node."""
        meta = hit.node.metadata
        return cls(
            n=n,
            chunk_id=hit.node.node_id,
            text=hit.node.get_content(),
            article_id=str(meta.get("article_id", "")),
            url=str(meta.get("url", "")),
            title=str(meta.get("title", "")),
            source=str(meta.get("source", "")),
            published=str(meta.get("published", "")),
            start_char=int(meta.get("start_char", 0)),
            end_char=int(meta.get("end_char", 0)),
            score=hit.score,
        )


@dataclass(frozen=True)
class Support:
    """Why a passage supports a sentence: the span of the passage that does."""

    passage: int
    start: int
    end: int
    score: float


SentenceStatus = Literal["supported", "reattached", "unsupported"]


@dataclass(frozen=True)
class SentenceVerdict:
    """One answer sentence after verification."""

    text: str
    status: SentenceStatus
    citations: tuple[int, ...]
    supports: tuple[Support, ...] = ()
    reason: str = ""


@dataclass(frozen=True)
class Citation:
    """A passage cited by the answer, with the spans that support its sentences."""

    n: int
    passage: Passage
    spans: tuple[tuple[int, int], ...]
    """Character spans in ``passage.text`` that support the sentences citing it."""

    @property
    def deep_link(self) -> str:
        """The source URL with a text fragment that scrolls to the supporting text ('' for an
        article without a web URL: articles are data, and a url of 'javascript:...' must never
        become a link in a page that shows it)."""
        if not is_web_url(self.passage.url):
            return ""
        from urllib.parse import quote

        start, end = self.spans[0] if self.spans else (0, min(len(self.passage.text), 80))
        words = self.passage.text[start:end].split()
        if not words:
            return self.passage.url
        if len(words) <= 8:
            fragment = quote(" ".join(words), safe="")
        else:
            fragment = f"{quote(' '.join(words[:4]), safe='')},{quote(' '.join(words[-4:]), safe='')}"
        return f"{self.passage.url}#:~:text={fragment}"


AnswerStatus = Literal["answered", "refused", "no_evidence"]


@dataclass(frozen=True)
class Answer:
    """A verified answer. ``text`` holds only supported sentences, with ``[n]`` markers."""

    question: str
    standalone_question: str
    text: str
    status: AnswerStatus
    sentences: tuple[SentenceVerdict, ...]
    citations: tuple[Citation, ...]
    passages: tuple[Passage, ...]
    generator: str
    timings: dict[str, float] = field(default_factory=dict)
    draft: str = ""
    """What the generator wrote, before verification (empty when it was not asked)."""

    @property
    def sources(self) -> list[str]:
        """The URLs of the cited articles, sorted."""
        return sorted({c.passage.url for c in self.citations if c.passage.url})

    @property
    def refused(self) -> bool:
        """True when the articles do not answer the question."""
        return self.status != "answered"

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready form (for the API and the eval suite)."""
        out = asdict(self)
        out["refused"] = self.refused
        for cit, raw in zip(self.citations, out["citations"]):
            raw["deep_link"] = cit.deep_link
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Answer:
        """The Answer :meth:`to_dict` made ``data`` from (the chat keeps its conversation so)."""
        def passage(raw: dict[str, Any]) -> Passage:
            return Passage(**{f.name: raw[f.name] for f in fields(Passage)})

        return cls(
            question=data["question"],
            standalone_question=data["standalone_question"],
            text=data["text"],
            status=data["status"],
            sentences=tuple(
                SentenceVerdict(s["text"], s["status"], tuple(s["citations"]),
                                tuple(Support(**x) for x in s["supports"]), s["reason"])
                for s in data["sentences"]
            ),
            citations=tuple(
                Citation(c["n"], passage(c["passage"]), tuple((a, b) for a, b in c["spans"]))
                for c in data["citations"]
            ),
            passages=tuple(passage(p) for p in data["passages"]),
            generator=data["generator"],
            timings=dict(data.get("timings", {})),
            draft=data.get("draft", ""),
        )
