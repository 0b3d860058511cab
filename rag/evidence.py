"""Score the sentences of retrieved passages as answers to a question.

The word-level first stage, shared by the extractive reader (which reads the
best of these sentences for meaning: :mod:`rag.reader`) and by the pipeline's
floor (no sentence sharing the question's key words means nothing relevant was
found). Sentences are cut to what may be quoted (:func:`quote_spans`). A sentence scores by the IDF-weighted share of the question's content words it
contains, with IDF over the retrieved sentences so that the words that single
out an answer weigh most; passage rank breaks near-ties of the score and
weighs more in the order in which sentences are quoted.
"""

from __future__ import annotations

import functools
import math
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

from rag.condense import split_context
from rag.sentences import sentence_spans
from rag.types import Passage
from rag.verify import content_words, is_question, stems

_MIN_WORDS = 4
_MAX_WORDS = 90
_CONTEXT_BONUS = 0.1
# How much a passage's retrieval rank n discounts its sentences: 1 / (1 + prior * (n - 1)).
# The evidence score (refusals are calibrated on it) breaks near-ties only; the
# choice of the sentence to quote trusts retrieval more, as its rank carries the
# recency of "this week's" news, which word overlap does not see.
_EVIDENCE_RANK_PRIOR = 0.03
_ORDER_RANK_PRIOR = 0.1


_NUMERIC_Q = re.compile(
    r"\bhow (many|much|long|old|far|high|tall|big|large)\b|\bwhat (percentage|percent|number|year|age|amount)\b"
    r"|\bwhen\b|\bwhich year\b",
    re.IGNORECASE,
)
_ENTITY_Q = re.compile(r"\b(who|whom|whose|which|what|where)\b", re.IGNORECASE)
_NAME = re.compile(r"(?<=[a-z,;] )[A-Z][a-zA-Z'\u2019-]+")
# How much a sentence that holds the kind of thing asked for (a number for "how
# many", a name for "who/which") gains in the ranking. Evidence for refusal is
# the plain coverage score.
ANSWER_TYPE_BONUS = 0.5


@dataclass(frozen=True)
class ScoredSentence:
    """A sentence of a passage with its score as an answer."""

    passage: Passage
    start: int
    end: int
    score: float
    stems: frozenset[str]
    rank: float = 0.0
    """The ordering key: coverage with the answer-type bonus and a stronger rank prior."""
    coverage: float = 0.0
    """IDF-weighted share of the question's key words in the sentence (no rank prior)."""

    @property
    def text(self) -> str:
        """The sentence as it stands in the passage."""
        return self.passage.text[self.start : self.end]


def rank_sentences(question: str, passages: Sequence[Passage]) -> list[ScoredSentence]:
    """Every usable sentence of ``passages``, best answer first."""
    # The pipeline's evidence check and the extractive generator rank the same
    # passages for the same question: compute it once.
    return list(_ranked(question, tuple(passages)))


@functools.lru_cache(maxsize=64)
def _ranked(question: str, passages: tuple[Passage, ...]) -> tuple[ScoredSentence, ...]:
    own, context = split_context(question)
    q_stems = set(stems(content_words(own)))
    # Terms carried from earlier turns locate the story (retrieval used them) but
    # are not what is asked: they only break ties between sentences.
    ctx_stems = set(stems(content_words(context))) - q_stems
    if not q_stems:
        q_stems, ctx_stems = ctx_stems, set()
    if not q_stems:
        return ()
    candidates: list[tuple[Passage, int, int, frozenset[str]]] = []
    for p in passages:
        for s, e in quote_spans(p.text):
            if _quotable(p.text[s:e]):
                candidates.append((p, s, e, frozenset(stems(content_words(p.text[s:e])))))
    if not candidates:
        return ()
    df = Counter(t for *_, words in candidates for t in words & (q_stems | ctx_stems))
    n = len(candidates)
    idf = {t: math.log(1 + n / (1 + df.get(t, 0))) for t in q_stems | ctx_stems}
    total = sum(idf[t] for t in q_stems)
    ctx_total = sum(idf[t] for t in ctx_stems) or 1.0
    out = []
    for p, s, e, words in candidates:
        cover = sum(idf[t] for t in words & q_stems) / total
        cover += _CONTEXT_BONUS * sum(idf[t] for t in words & ctx_stems) / ctx_total
        score = min(1.0, cover) / (1.0 + _EVIDENCE_RANK_PRIOR * (p.n - 1))
        bonus = ANSWER_TYPE_BONUS if _holds_answer_type(question, p.text[s:e]) else 0.0
        order = min(1.0, cover) / (1.0 + _ORDER_RANK_PRIOR * (p.n - 1)) * (1.0 + bonus)
        out.append(ScoredSentence(p, s, e, score, words, order, min(1.0, cover)))
    out.sort(key=lambda x: (-x.rank, x.passage.n, x.start))
    return tuple(out)


# A full stop glued to the next sentence's first word ("share these stories.Political
# geographers"): scraped text lost the space, so the splitter reads one sentence.
_GLUED_STOP = re.compile(r"(?<=[a-z]{2}[.!?])(?=[A-Z][a-z])")
_HEAD_WORDS = 12


def quote_spans(text: str) -> list[tuple[int, int]]:
    """Sentence spans of ``text`` fit to quote: split where a full stop lost its space,
    and without a headline run into the sentence that follows it. Only cuts, so every
    quoted word stands in the passage as it is."""
    out: list[tuple[int, int]] = []
    for s, e in sentence_spans(text):
        cuts = [s] + [s + m.start() for m in _GLUED_STOP.finditer(text[s:e])] + [e]
        for a, b in zip(cuts, cuts[1:]):
            a += len(text[a:b]) - len(text[a:b].lstrip())
            if a < b:
                out.append((_after_run_in_heading(text, a, b), b))
    return out


def _after_run_in_heading(text: str, start: int, end: int) -> int:
    """Where the sentence starts after a run-in heading ("Pakistan defence minister's big
    remark Pakistan's defence minister Khawaja Asif said ..."): a capitalised word that
    restarts the heading's own words, with no full stop between them."""
    words = list(re.finditer(r"\S+", text[start:end]))
    if len(words) < 8:
        return start
    for i in range(2, min(_HEAD_WORDS, len(words) - 5)):
        w = words[i].group()
        if not w[:1].isupper() or words[i - 1].group()[-1:] in ".:;,!?\"'\u201d":
            continue
        head = set(stems(content_words(text[start : start + words[i].start()])))
        rest = set(stems(content_words(" ".join(x.group() for x in words[i : i + 4]))))
        if len(head & rest) >= 2 and not (head & _VERBISH):
            return start + words[i].start()
    return start


# Words that make a run of words a clause rather than a heading.
_VERBISH = frozenset(stems("said says is are was were has have had will would told".split()))


def evidence_strength(ranked: Sequence[ScoredSentence]) -> float:
    """How well the best sentence covers the question (0 when nothing does)."""
    return max((r.score for r in ranked), default=0.0)


def _quotable(sentence: str) -> bool:
    """A sentence an answer may quote: not a fragment, not a wall of text, and not a
    question (an article's question, a headline or a quote, answers nothing)."""
    return _MIN_WORDS <= len(sentence.split()) <= _MAX_WORDS and not is_question(sentence)


def _holds_answer_type(question: str, sentence: str) -> bool:
    """Does the sentence hold something new of the kind the question asks for?"""
    if _NUMERIC_Q.search(question):
        q_numbers = set(re.findall(r"\d[\d,.]*", question))
        return any(n not in q_numbers for n in re.findall(r"\d[\d,.]*", sentence))
    if _ENTITY_Q.search(question):
        q_words = {w.lower() for w in re.findall(r"\w+", question)}
        return any(m.group().lower() not in q_words for m in _NAME.finditer(sentence))
    return False
