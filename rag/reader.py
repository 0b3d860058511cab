"""The extractive reader: which passage sentences answer a question, and whether any does.

Word overlap alone picks the sentence that repeats the question ("Netflix
announced the wildly popular show is green lit") rather than the one that
answers it, and cannot tell a passage on the topic from one that holds the
answer. The reader adds signals that see meaning:

* similarity of the question to each candidate sentence under the embedder
  already loaded (all-MiniLM-L6-v2 was trained on question/answer pairs);
* whether the sentence holds a thing of the kind asked for (a person for
  "who", a number for "how many", a place for "where") that the question does
  not name, from spaCy's named entities;
* whether its article falls in the question's time frame ("this week",
  "in 2021", read against the reference date).

The answer is the thing of the asked kind that the relevant sentences agree on
(relevance-weighted votes across passages); answerability is the relevance of
the best sentence that names it. Weights and the threshold were set on the dev
set (README "Answer-engine figures" has the sweep).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import date

import numpy as np

from rag.evidence import ScoredSentence, rank_sentences
from rag.nlp import entities
from rag.question import ENTITY_LABELS, AnswerKind, TimeFrame, answer_kind, time_frame
from rag.types import Passage
from rag.verify import content_words, stems

Embed = Callable[[list[str]], "np.ndarray"]

# How many sentences, best by word overlap and rank, are read for meaning:
# reading is the costly part (an embedding and a parse each).
CANDIDATES = 16
# Weights of the relevance score, chosen on the dev set (README "Answer-engine figures").
W_COVER = 1.0
W_SIMILAR = 1.0
KIND_BONUS = 0.35
FRAME_BONUS = 0.15
OUT_OF_FRAME = 0.6
RANK_PRIOR = 0.06
# Below this answerability the extractive answer is that the articles do not say
# (calibrated on the dev set: README "Answer-engine figures").
ANSWERABLE = 0.4
# A sentence with fewer content words than this beyond the question's own restates it.
RESTATE_NEW_WORDS = 3
RESTATED = 0.5
# Sentences (the most relevant, plus the ones beside them) whose named entities are read.
ENTITY_SENTENCES = 16


@dataclass(frozen=True)
class Reading:
    """A candidate sentence read for meaning."""

    sentence: ScoredSentence
    similarity: float | None
    relevance: float
    """How closely the sentence matches the question (words, meaning, time frame, rank)."""
    answers: tuple[str, ...]
    """The things of the asked kind the sentence names that the question does not."""
    score: float
    """Relevance, raised when the sentence names the best-supported answer."""

    @property
    def passage(self) -> Passage:
        """The passage the sentence stands in."""
        return self.sentence.passage

    @property
    def holds_kind(self) -> bool:
        """Does the sentence name a thing of the kind asked for?"""
        return bool(self.answers)


@dataclass(frozen=True)
class Read:
    """What the reader made of the passages for one question."""

    kind: AnswerKind
    frame: TimeFrame | None
    readings: tuple[Reading, ...]
    """Best first."""
    answer: str
    """The thing of the asked kind best supported across the sentences ("" if none)."""
    answerability: float
    """How sure the reader is that the passages answer (0..1-ish; see :func:`answerability`)."""


class Reader:
    """Reads the passages retrieved for a question; deterministic for the same inputs."""

    def __init__(self, *, embed: Embed | None = None, candidates: int = CANDIDATES) -> None:
        """``embed`` maps texts to unit vectors (the corpus's embedder); without it the
        reader uses word overlap, answer kind and time frame only."""
        self.embed = embed
        self.candidates = candidates
        self._workers = ThreadPoolExecutor(max_workers=2, thread_name_prefix="reader")

    def read(self, question: str, passages: Sequence[Passage], reference: date | None = None) -> Read:
        """Score the candidate sentences of ``passages`` as answers to ``question``."""
        kind = answer_kind(question)
        frame = time_frame(question, reference)
        ranked = rank_sentences(question, passages)
        if not ranked:
            return Read(kind, frame, (), "", 0.0)
        pool = _pool(ranked, self.candidates)
        texts = [c.text for c in pool]
        sims: list[float | None] = [None] * len(pool)
        # Named entities are read while the embedder runs: both are the costly part of
        # reading, the embedder works outside the interpreter, and which sentences vote
        # is only known after it. So every pool sentence is read; few more than vote.
        pending = self._workers.submit(entities, texts) if kind != "thing" else None
        if self.embed is not None:
            vectors = self.embed([question, *texts])
            q, rest = vectors[0], vectors[1:]
            sims = [float(np.dot(q, v)) for v in rest]
        q_words = _question_words(question)
        rels = [self._relevance(c, sim, q_words, frame) for c, sim in zip(pool, sims)]
        # Entities count only in the sentences relevant enough to vote: the best ones,
        # and the ones beside them, where news often names the answer.
        read_ents = _worth_reading(pool, rels) if pending is not None else set()
        every = pending.result() if pending is not None else []
        found = {i: every[i] for i in sorted(read_ents)}
        partial = []
        votes: dict[str, float] = {}
        for i, (cand, sim, rel) in enumerate(zip(pool, sims, rels)):
            answers = _answers(cand.text, found.get(i, ()), kind, q_words) if i in found else ()
            for a in set(answers):
                votes[a] = votes.get(a, 0.0) + rel
            partial.append((cand, sim, rel, answers))
        # The answer most of the relevant sentences agree on; a sentence naming it
        # rises above one that only repeats the question's words.
        best = max(votes, key=lambda a: (votes[a], -min(i for i, p in enumerate(partial) if a in p[3])), default="")
        readings = []
        for cand, sim, rel, answers in partial:
            score = rel * (1.0 + (KIND_BONUS if best and best in answers else 0.0))
            readings.append(Reading(cand, sim, rel, answers, score))
        readings.sort(key=lambda r: (-r.score, r.passage.n, r.sentence.start))
        return Read(kind, frame, tuple(readings), best, answerability(readings, kind, best))


    @staticmethod
    def _relevance(cand: ScoredSentence, sim: float | None, q_words: frozenset[str], frame: TimeFrame | None) -> float:
        rel = W_COVER * cand.coverage + (W_SIMILAR * sim if sim is not None else 0.0)
        if _restates(cand, q_words):
            rel *= RESTATED  # the question's own words with nothing new cannot answer it
        in_frame = _in_frame(cand.passage, frame)
        # An article from outside the question's time frame ("this week") is most
        # likely about another occasion of the same thing (last year's trophy).
        rel *= 1.0 + FRAME_BONUS if in_frame else (OUT_OF_FRAME if in_frame is False else 1.0)
        return rel / (1.0 + RANK_PRIOR * (cand.passage.n - 1))


def _worth_reading(pool: Sequence[ScoredSentence], rels: Sequence[float]) -> set[int]:
    """Indices of the sentences to read entities in: the most relevant, and their neighbours."""
    order = sorted(range(len(pool)), key=lambda i: -rels[i])
    chosen = set(order[:ENTITY_SENTENCES])
    for i in list(chosen):
        for j, c in enumerate(pool):
            if j not in chosen and adjacent(c, pool[i]):
                chosen.add(j)
    return chosen


def adjacent(a: ScoredSentence, b: ScoredSentence) -> bool:
    """Do the two sentences stand next to each other in one passage?"""
    if a.passage != b.passage or a.start == b.start:
        return False
    first, second = sorted((a, b), key=lambda x: x.start)
    return not first.passage.text[first.end : second.start].strip()


def answerability(readings: Sequence[Reading], kind: AnswerKind, answer: str = "") -> float:
    """How well the passages answer: the relevance of the best sentence that names the
    answer (or stands beside one that does, in its passage); for questions that ask
    for no particular kind of thing, of the best sentence."""
    if kind == "thing":
        return max((r.relevance for r in readings), default=0.0)
    holders = {(r.passage.n, r.sentence.start) for r in readings if answer and answer in r.answers}
    best = 0.0
    for r in readings:
        near = (r.passage.n, r.sentence.start) in holders or any(
            (r.passage.n, s.start) in holders for s in _siblings(r, readings)
        )
        if near:
            best = max(best, r.relevance)
    return best


def _siblings(r: Reading, readings: Sequence[Reading]) -> list[ScoredSentence]:
    """The readings just before and after ``r`` in its passage."""
    return [o.sentence for o in readings if adjacent(o.sentence, r.sentence)]


def _pool(ranked: Sequence[ScoredSentence], n: int) -> list[ScoredSentence]:
    """The best ``n`` sentences by word overlap, and the sentences beside the best few
    (news names its subject in one sentence and answers in the next)."""
    pool = list(ranked[:n])
    seen = {(c.passage.n, c.start) for c in pool}
    by_passage: dict[int, list[ScoredSentence]] = {}
    for c in ranked:
        by_passage.setdefault(c.passage.n, []).append(c)
    for c in ranked[:4]:
        siblings = sorted(by_passage[c.passage.n], key=lambda x: x.start)
        at = next(i for i, s in enumerate(siblings) if s.start == c.start)
        for i in (at - 1, at + 1):
            if 0 <= i < len(siblings) and (c.passage.n, siblings[i].start) not in seen:
                seen.add((c.passage.n, siblings[i].start))
                pool.append(siblings[i])
    return pool


def _question_words(question: str) -> frozenset[str]:
    return frozenset(stems(content_words(question)))


def _restates(cand: ScoredSentence, q_words: frozenset[str]) -> bool:
    """Does the sentence say nothing beyond the question's own words?"""
    return len(cand.stems - q_words) < RESTATE_NEW_WORDS


_QUOTED = re.compile(r"[\"\u201c\u2018]([^\"\u201d\u2019]{2,60})[\"\u201d\u2019]|(?<!\w)'([A-Z][^']{1,58})'(?!\w)")
# Words that date a sentence rather than name the thing asked for.
_CALENDAR = frozenset(
    "monday tuesday wednesday thursday friday saturday sunday january february march april may june july "
    "august september october november december today yesterday tomorrow".split()
)
_CAPITALISED = re.compile(r"(?<=[a-z,;:] )(?:[A-Z][\w'\u2019.&-]*)(?:\s+(?:of |de |the )?[A-Z][\w'\u2019.&-]*)*")
_NUMBER = re.compile(r"\$?\d[\d,.]*(?:\s?(?:%|percent|million|billion|trillion))?")


def _answers(text: str, ents: Sequence[tuple[str, str]], kind: AnswerKind, q_words: frozenset[str]) -> tuple[str, ...]:
    """The things of ``kind`` the sentence names that the question does not, normalised."""
    if kind == "thing":
        return ()
    labels = ENTITY_LABELS[kind]
    found = [t for t, label in ents if label in labels]
    if kind == "number":
        found += _NUMBER.findall(text)  # numbers the small model leaves untagged ("22 more")
    elif kind in ("title", "organisation", "person", "name", "place"):
        # Titles in quotes and names the small model misses ("Squid Game", "KFC Nuggets").
        found += [m for pair in _QUOTED.findall(text) for m in pair if m[:1].isupper()]
        if not any(label in labels for _, label in ents):
            found += _CAPITALISED.findall(text)
    out = []
    for f in found:
        key = _normal(f)
        words = set(stems(content_words(f)))
        if kind not in ("date", "number") and key in _CALENDAR:
            continue
        if key and not (words and all(_in_question(w, q_words) for w in words)):
            out.append(key)
    return tuple(dict.fromkeys(out))


def _in_question(word: str, q_words: frozenset[str]) -> bool:
    # "Lanka" is named by "Sri Lankan", "Ukraine" by "Ukrainian".
    return word in q_words or (len(word) >= 4 and any(q.startswith(word[:5]) or word.startswith(q[:5]) for q in q_words if len(q) >= 4))


def _normal(thing: str) -> str:
    t = re.sub(r"^(the|a|an)\s+", "", thing.strip().lower())
    t = re.sub(r"['\u2019]s$", "", t)
    return re.sub(r"[^\w$%.]+", " ", t).strip(" .")


def _in_frame(passage: Passage, frame: TimeFrame | None) -> bool | None:
    if frame is None or not passage.published:
        return None
    try:
        day = date.fromisoformat(passage.published[:10])
    except ValueError:
        return None
    return frame.holds(day)

