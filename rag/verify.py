"""Citation verification: every sentence shown must be backed by what it cites.

The answer is split into sentences; each sentence's ``[n]`` markers name the
passages it claims as support. A :class:`SupportJudge` decides, passage by
passage, whether a passage supports the sentence and which span of it does.
A sentence whose citations fail is re-attached to another retrieved passage
that supports it, or dropped. The offline default, :class:`LexicalJudge`, is
deterministic: numbers and names must occur in the passage, most content
words must be covered, the sentence must be close to one passage sentence (or
two adjacent ones), and negation must agree.
"""

from __future__ import annotations

import functools
import re
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from typing import ClassVar

import Stemmer

from rag.sentences import sentence_spans
from rag.types import Citation, Passage, SentenceVerdict, Support

_STEM = Stemmer.Stemmer("english")
# Fewer content words than this is filler, not a claim.
_MIN_CLAIM_WORDS = 2
_CITE = re.compile(r"\s*\[(\d+(?:\s*,\s*\d+)*)\]")
_WORD = re.compile(r"[A-Za-z][A-Za-z'\u2019-]*|\d[\d,.]*\d|\d")
_NUMBER = re.compile(r"\d[\d,]*(?:\.\d+)?")
_CAPITALIZED = re.compile(r"\b[A-Z][a-zA-Z'\u2019-]+")
_NEGATION = {"not", "no", "never", "none", "nor", "cannot", "n't", "without", "neither"}
_NUMBER_WORDS = {
    "zero": "0", "one": "1", "two": "2", "three": "3", "four": "4", "five": "5", "six": "6",
    "seven": "7", "eight": "8", "nine": "9", "ten": "10", "eleven": "11", "twelve": "12",
    "dozen": "12", "twenty": "20", "hundred": "100", "thousand": "1000",
}
_MONTHS = "january february march april may june july august september october november december".split()
STOPWORDS = frozenset(
    """a an the and or but if then than so as of at by for with about against between into through
    during before after above below to from up down in out on off over under again further once here
    there when where why how all any both each few more most other some such only own same too very
    can will just should now is are was were be been being have has had having do does did doing i me
    my we our you your he him his she her it its they them their what which who whom this that these
    those am would could also said says say according told tell new one's per its it's while since
    until within via yet whose whether may might must shall us many much""".split()
)
# The attribution the answer composer puts before a sentence ("As of 4 Feb 2026, ...").
_AS_OF = re.compile(r"^\s*as of (\d{1,2} [A-Z][a-z]{2} \d{4}),\s*", re.IGNORECASE)


@dataclass(frozen=True)
class Judgement:
    """A judge's decision on one (claim, passage) pair."""

    supported: bool
    score: float
    span: tuple[int, int]
    reason: str = ""


class SupportJudge(ABC):
    """Decides whether a passage supports a claim, and where."""

    name: ClassVar[str]

    @abstractmethod
    def judge(self, claim: str, passage: str) -> Judgement:
        """Judge ``claim`` against the text of one passage (or several joined)."""

    def prepare(self, pairs: Sequence[tuple[str, str]]) -> None:
        """Get ready to judge these (claim, passage) pairs; a judge that parses text
        batches the work here (one call costs less than many)."""

    def __call__(self, claim: str, passage: str) -> bool:
        """True if ``passage`` supports ``claim`` (the eval's yes/no use)."""
        return self.judge(claim, passage).supported


def stems(words: Sequence[str]) -> list[str]:
    """Snowball stems of lower-cased words."""
    return _STEM.stemWords([w.lower().replace("\u2019", "'") for w in words])


def content_words(text: str) -> list[str]:
    """Lower-cased words of ``text`` that carry content (no stopwords)."""
    return [w for w in (m.group().lower() for m in _WORD.finditer(text)) if w not in STOPWORDS and len(w) > 1]


def _numbers(text: str) -> set[str]:
    found = {m.group().replace(",", "").rstrip(".") for m in _NUMBER.finditer(text)}
    lowered = text.lower()
    found |= {v for k, v in _NUMBER_WORDS.items() if re.search(rf"\b{k}\b", lowered)}
    return found


def _names(text: str) -> set[str]:
    """Capitalized words, skipping a sentence's first word and common words."""
    names = set()
    for m in _CAPITALIZED.finditer(text):
        word = m.group()
        before = text[: m.start()].rstrip()
        sentence_start = not before or before[-1] in ".!?:\"\u201c(["
        if word.lower() in STOPWORDS and not (word.lower() in _MONTHS and not sentence_start):
            continue  # "May" mid-sentence is a month or a name: checked like one
        if sentence_start and _common_start(word) and not _followed_by_capital(text, m.end()):
            # A capital at a sentence's start may say nothing ("Although", "Twelve",
            # "Starting"); a name there goes on capitalised ("Tony Rodham") and its
            # next word is checked.
            continue
        for part in word.split("-"):
            if part[:1].isupper():
                names.add(part.lower().removesuffix("'s").removesuffix("\u2019s"))
    return names


def _common_start(word: str) -> bool:
    w = word.lower()
    return (
        w in _COMMON_SENTENCE_STARTS or w in _NUMBER_WORDS or w in _CONNECTIVES
        or (w.endswith(("ing", "ly")) and len(w) > 5)
    )


_CONNECTIVES = frozenset(
    "although because however meanwhile instead still yet though unless despite amid among earlier later "
    "last next first finally overall people investigators prosecutors lawmakers researchers scientists "
    "analysts officers soldiers troops workers students voters fans critics".split()
)


def _followed_by_capital(text: str, end: int) -> bool:
    return bool(re.match(r"\s+[A-Z]", text[end:]))


def _name_in(name: str, facts: _Facts, passage_lower: str) -> bool:
    """Is the name in the passage, as written or as its demonym or possessive
    ("Pakistani" for "Pakistan's", "Americans" for "America")?"""
    if name in facts.words or name in passage_lower:
        return True
    stem = name[:-3] if len(name) > 6 else name
    return len(stem) >= 5 and any(w.startswith(stem) and abs(len(w) - len(name)) <= 3 for w in facts.words)


_COMMON_SENTENCE_STARTS = frozenset("officials police authorities experts critics residents".split())


class LexicalJudge(SupportJudge):
    """The deterministic offline judge (see the module docstring)."""

    name = "lexical"

    def __init__(self, *, coverage: float = 0.7, closeness: float = 0.5, negation: bool = True) -> None:
        """``coverage``: share of the claim's content words found in the passage;
        ``closeness``: share found in the best one or two adjacent passage sentences;
        ``negation``: compare negation words (off when a judge that parses does it
        verb by verb: "barred from attending" is "may not attend" without a "not")."""
        self.coverage = coverage
        self.closeness = closeness
        self.negation = negation

    def judge(self, claim: str, passage: str) -> Judgement:
        """Judge one claim against one passage text."""
        claim_words = content_words(claim)
        if not claim_words:
            return Judgement(False, 0.0, (0, 0), "no content words")
        claim_stems = set(stems(claim_words))
        passage_lower = passage.lower()

        facts = _passage_facts(passage)
        missing_numbers = _numbers(claim) - facts.numbers
        if missing_numbers:
            return Judgement(False, 0.0, (0, 0), f"the passage does not give {', '.join(sorted(missing_numbers))}")
        missing_names = {n for n in _names(claim) if not _name_in(n, facts, passage_lower)}
        if missing_names:
            return Judgement(False, 0.0, (0, 0), f"the passage does not name {', '.join(sorted(missing_names))}")

        passage_stems = facts.stems
        covered = len(claim_stems & passage_stems) / len(claim_stems)
        if covered < self.coverage:
            return Judgement(False, covered, (0, 0), f"the passage has only {covered:.0%} of its words")

        span, close, window = self._closest(claim_stems, passage)
        if close < self.closeness:
            return Judgement(False, close, span, f"no sentence of the passage says it (closest has {close:.0%} of its words)")
        if self.negation and _negated(claim) != _negated(_matching_clauses(window, claim_stems)):
            return Judgement(False, close, span, "the passage says the opposite (a negation differs)")
        return Judgement(True, min(covered, close), span)

    @staticmethod
    def _closest(claim_stems: set[str], passage: str) -> tuple[tuple[int, int], float, str]:
        facts = _passage_facts(passage)
        spans, sentence_stems = facts.spans, facts.sentence_stems
        best = ((0, 0), 0.0, "")
        # Single sentences first, so a pair wins only if it covers strictly more
        # (a tighter highlight on ties).
        windows = [(i, i) for i in range(len(spans))] + [(i, i + 1) for i in range(len(spans) - 1)]
        for i, j in windows:
            score = len(claim_stems & (sentence_stems[i] | sentence_stems[j])) / len(claim_stems)
            if score > best[1] + 1e-9:
                best = ((spans[i][0], spans[j][1]), score, passage[spans[i][0] : spans[j][1]])
        return best


@dataclass(frozen=True)
class _Facts:
    numbers: frozenset[str]
    words: frozenset[str]
    stems: frozenset[str]
    spans: tuple[tuple[int, int], ...]
    sentence_stems: tuple[frozenset[str], ...]


@functools.lru_cache(maxsize=512)
def _passage_facts(passage: str) -> _Facts:
    """What the judge reads from a passage, once per passage text: verification judges
    every sentence against several passages, and re-attachment against all of them."""
    spans = tuple(sentence_spans(passage) or [(0, len(passage))])
    return _Facts(
        numbers=frozenset(_numbers(passage)),
        words=frozenset(w.lower().removesuffix("'s").removesuffix("\u2019s") for w in _WORD.findall(passage)),
        stems=frozenset(stems(content_words(passage))),
        spans=spans,
        sentence_stems=tuple(frozenset(stems(content_words(passage[s:e]))) for s, e in spans),
    )


def _words_lower(text: str) -> list[str]:
    return [w.lower() for w in _WORD.findall(text)]


def _negated(text: str) -> bool:
    return bool(_NEGATION & set(_words_lower(text))) or "n't" in text.lower()


_CLAUSE = re.compile(r"[,;:\u2014\u2013]|\s-\s")


def _matching_clauses(window: str, claim_stems: set[str]) -> str:
    """The clauses of ``window`` that are mostly about the claim's words.

    A negation elsewhere in the sentence ("..., though it did not say when")
    must not count against a claim taken from another clause.
    """
    out = []
    for clause in _CLAUSE.split(window):
        words = set(stems(content_words(clause)))
        if words and len(words & claim_stems) >= 0.5 * len(words):
            out.append(clause)
    return " ".join(out) if out else window


@dataclass(frozen=True)
class Verified:
    """The outcome of verifying an answer."""

    text: str
    sentences: tuple[SentenceVerdict, ...]
    citations: tuple[Citation, ...]


def split_claim(sentence: str) -> tuple[str, tuple[int, ...]]:
    """The sentence without its ``[n]`` markers, and the cited numbers in order."""
    cited: list[int] = []
    for m in _CITE.finditer(sentence):
        cited += [int(x) for x in m.group(1).split(",")]
    claim = _CITE.sub("", sentence).strip()
    return claim, tuple(dict.fromkeys(cited))


def verify(answer: str, passages: Sequence[Passage], judge: SupportJudge) -> Verified:
    """Check each sentence of ``answer`` against the passages it cites.

    Supported sentences keep their (valid) citations; a sentence whose
    citations are missing, out of range or unsupportive is re-attached to the
    retrieved passage that supports it best, or else dropped from the text.
    """
    by_n = {p.n: p for p in passages}
    verdicts: list[SentenceVerdict] = []
    sentences = _answer_sentences(answer)
    judge.prepare([
        (strip_as_of(part)[0], by_n[n].text)
        for start, end in sentences
        for part, cited in clauses(answer[start:end])
        for n in cited if n in by_n
    ])
    for start, end in sentences:
        sentence = answer[start:end]
        claim, cited = split_claim(sentence)
        body, as_of = strip_as_of(claim)
        if len(content_words(body)) < _MIN_CLAIM_WORDS:
            continue  # filler ("Sure.", "Here is what I found:") makes no claim to check
        if is_question(claim):
            # A question asserts nothing; copied from a passage it would pass every check.
            verdicts.append(SentenceVerdict(claim, "unsupported", cited, (), "a question, not an answer"))
            continue
        joined = _clause_verdict(sentence, claim, as_of, by_n, judge)
        verdicts.append(joined or _verdict(claim, body, as_of, cited, by_n, passages, judge))
    kept = [v for v in verdicts if v.status != "unsupported"]
    text = " ".join(with_markers(v.text, v.citations) for v in kept)
    return Verified(text=text, sentences=tuple(verdicts), citations=_citations(kept, by_n))


def clauses(sentence: str) -> list[tuple[str, tuple[int, ...]]]:
    """The parts of a sentence that cite passages mid-way ("X happened [1], after Y [2]."),
    each with its own citations; one part when every marker stands at the end."""
    parts: list[tuple[str, tuple[int, ...]]] = []
    pos = 0
    for m in _CITE.finditer(sentence):
        if not re.search(r"[A-Za-z0-9]", _CITE.sub("", sentence[m.end() :])):
            break  # markers at the end cite the last part
        nums = tuple(int(x) for x in m.group(1).split(","))
        parts.append((sentence[pos : m.start()], nums))
        pos = m.end()
    if not parts:
        return [split_claim(sentence)]
    tail, cited = split_claim(sentence[pos:])
    parts.append((tail, cited))
    return [(_CLAUSE_LEAD.sub("", _CITE.sub("", text)).strip(" ,;"), nums) for text, nums in parts]


# Words that join a clause to the one before it and belong to neither claim.
_CLAUSE_LEAD = re.compile(r"^[\s,;:\u2014\u2013-]*(?:and|but|while|after|before|as|when|whereas|although|though|since|"
                          r"because|with|which|who|where)?\b\s*", re.IGNORECASE)


def _clause_verdict(
    sentence: str, claim: str, as_of: date | None, by_n: dict[int, Passage], judge: SupportJudge
) -> SentenceVerdict | None:
    """A sentence joining facts from several passages, each part judged against the
    passages it cites; None when it has one part, or a part is not supported (the
    sentence is then judged whole)."""
    parts = clauses(sentence)
    if len(parts) < 2:
        return None
    supports: list[Support] = []
    cited_all: list[int] = []
    for text, nums in parts:
        body, _ = strip_as_of(text)
        if len(content_words(body)) < _MIN_CLAIM_WORDS or not nums:
            return None
        found = None
        for n in nums:
            p = by_n.get(n)
            if p is None or (as_of is not None and p.published != as_of.isoformat()):
                continue
            j = judge.judge(body, p.text)
            if j.supported:
                found = Support(passage=n, start=j.span[0], end=j.span[1], score=j.score)
                break
        if found is None:
            return None
        supports.append(found)
        cited_all += [s for s in nums if s not in cited_all]
    return SentenceVerdict(claim, "supported", tuple(cited_all), tuple(supports))


def is_question(sentence: str) -> bool:
    """Does the sentence end with a question mark (inside closing quotes or brackets too)?"""
    return sentence.rstrip(" \"'\u201d\u2019)").endswith("?")


def with_markers(sentence: str, citations: Sequence[int]) -> str:
    """``sentence`` with ``[n]`` markers placed before its closing punctuation."""
    marks = "".join(f"[{n}]" for n in citations)
    if not marks:
        return sentence
    m = re.search(r"[.!?]+[\"'\u201d\u2019)]*$", sentence)
    if m:
        return f"{sentence[: m.start()]} {marks}{sentence[m.start():]}"
    # A quoted headline or caption has no full stop: end it, or the answer's
    # sentence splitter would run it into the next sentence.
    return f"{sentence} {marks}."


_MARKED_END = re.compile(r"(?:\[\d+(?:\s*,\s*\d+)*\])+[.!?]+[\"'\u201d\u2019)]*\s+(?=\S)")


def _answer_sentences(answer: str) -> list[tuple[int, int]]:
    # A citation marker after the full stop belongs to the sentence before it.
    spans = sentence_spans(answer)
    merged: list[tuple[int, int]] = []
    for s, e in spans:
        if merged and re.fullmatch(r"(\s*\[\d+(?:\s*,\s*\d+)*\])+\.?", answer[s:e]):
            merged[-1] = (merged[-1][0], e)
        else:
            merged.append((s, e))
    # "[2]." ends a sentence even where the splitter reads on: before a quoted
    # sentence that starts in lower case (a chunk cut mid-sentence) or a symbol.
    out: list[tuple[int, int]] = []
    for s, e in merged:
        for m in _MARKED_END.finditer(answer, s, e):
            out.append((s, m.start() + len(m.group().rstrip())))
            s = m.end()
        out.append((s, e))
    return out


def strip_as_of(claim: str) -> tuple[str, date | None]:
    """Split the composer's "As of 4 Feb 2026, " attribution from the claim it dates."""
    m = _AS_OF.match(claim)
    if not m:
        return claim, None
    from datetime import datetime

    try:
        when = datetime.strptime(m.group(1), "%d %b %Y").date()
    except ValueError:
        return claim, None
    return claim[m.end() :], when


def _verdict(
    claim: str,
    body: str,
    as_of: date | None,
    cited: tuple[int, ...],
    by_n: dict[int, Passage],
    passages: Sequence[Passage],
    judge: SupportJudge,
) -> SentenceVerdict:
    def dated_ok(p: Passage) -> bool:
        return as_of is None or p.published == as_of.isoformat()

    valid = [n for n in cited if n in by_n]
    supports: list[Support] = []
    why_not: list[str] = []
    for n in valid:
        j = judge.judge(body, by_n[n].text)
        if not j.supported:
            why_not.append(f"[{n}]: {j.reason or 'not supported'}")
        elif not dated_ok(by_n[n]):
            why_not.append(f"[{n}] is dated {by_n[n].published or 'without a date'}")
        else:
            supports.append(Support(passage=n, start=j.span[0], end=j.span[1], score=j.score))
    if supports:
        return SentenceVerdict(claim, "supported", tuple(s.passage for s in supports), tuple(supports))
    if len(valid) > 1:
        # ALCE-style: the cited passages together may support what none does alone.
        joined = "\n".join(by_n[n].text for n in valid)
        j = judge.judge(body, joined)
        if j.supported and all(dated_ok(by_n[n]) for n in valid):
            spans = _split_joined_span(j.span, [by_n[n] for n in valid], j.score)
            return SentenceVerdict(claim, "supported", tuple(valid), spans)
    best: tuple[float, Passage, Judgement] | None = None
    for p in passages:
        if p.n in valid:
            continue
        j = judge.judge(body, p.text)
        if j.supported and dated_ok(p) and (best is None or j.score > best[0]):
            best = (j.score, p, j)
    if best is not None:
        _, p, j = best
        return SentenceVerdict(
            claim,
            "reattached",
            (p.n,),
            (Support(passage=p.n, start=j.span[0], end=j.span[1], score=j.score),),
            reason="cited " + (", ".join(f"[{n}]" for n in cited) if cited else "nothing") + f"; supported by [{p.n}]",
        )
    why = "no citation" if not cited else ("citation out of range" if not valid else "; ".join(why_not))
    return SentenceVerdict(claim, "unsupported", cited, (), reason=why)


def _split_joined_span(span: tuple[int, int], parts: Sequence[Passage], score: float) -> tuple[Support, ...]:
    out: list[Support] = []
    offset = 0
    for p in parts:
        lo, hi = max(span[0], offset), min(span[1], offset + len(p.text))
        if lo < hi:
            out.append(Support(passage=p.n, start=lo - offset, end=hi - offset, score=score))
        offset += len(p.text) + 1
    return tuple(out)


def _citations(kept: Sequence[SentenceVerdict], by_n: dict[int, Passage]) -> tuple[Citation, ...]:
    spans: dict[int, list[tuple[int, int]]] = {}
    for v in kept:
        for s in v.supports:
            spans.setdefault(s.passage, []).append((s.start, s.end))
        for n in v.citations:
            spans.setdefault(n, [])
    return tuple(
        Citation(n=n, passage=by_n[n], spans=tuple(sorted(set(spans[n])))) for n in sorted(spans) if n in by_n
    )
