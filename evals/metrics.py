"""Pure metric functions over text, shared by the benchmarks and the eval suite.

Retrieval is scored on text (is the gold answer in what was retrieved?) rather
than on chunk ids, so figures survive re-chunking.
"""

from __future__ import annotations

import re
import string
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass

_ARTICLES = re.compile(r"\b(a|an|the)\b")
_PUNCT = re.compile(f"[{re.escape(string.punctuation)}\u2018\u2019\u201c\u201d\u2013\u2014\u2026]")
_SPACE = re.compile(r"\s+")


def normalize_answer(text: str) -> str:
    """SQuAD normalization: lower case, no punctuation, no articles, single spaces."""
    text = _PUNCT.sub(" ", text.lower())
    text = _ARTICLES.sub(" ", text)
    return _SPACE.sub(" ", text).strip()


def contains_answer(text: str, answer: str) -> bool:
    """True if the normalized ``answer`` occurs in normalized ``text`` on word boundaries."""
    needle = normalize_answer(answer)
    if not needle:
        return False
    return f" {needle} " in f" {normalize_answer(text)} "


def answer_hit_at_k(ranked: Sequence[str], answers: Sequence[str], k: int) -> bool:
    """True if any gold answer occurs in one of the first ``k`` retrieved texts."""
    return any(contains_answer(t, a) for t in ranked[:k] for a in answers)


def budget_text(ranked: Sequence[str], budget: int, count_tokens: Callable[[str], list[int]]) -> str:
    """The ranked texts concatenated and cut at ``budget`` tokens."""
    out: list[str] = []
    used = 0
    for text in ranked:
        tokens = count_tokens(text)
        if used + len(tokens) <= budget:
            out.append(text)
            used += len(tokens)
            continue
        room = budget - used
        if room > 0:
            # Cut by characters in proportion, then trim to the exact token room.
            cut = text[: max(1, len(text) * room // max(1, len(tokens)))]
            while cut and len(count_tokens(cut)) > room:
                cut = cut[: int(len(cut) * 0.95)]
            out.append(cut)
        break
    return "\n".join(out)


def answer_hit_within(
    ranked: Sequence[str], answers: Sequence[str], budget: int, count_tokens: Callable[[str], list[int]]
) -> bool:
    """True if a gold answer occurs in the first ``budget`` tokens of the ranked texts."""
    text = budget_text(ranked, budget, count_tokens)
    return any(contains_answer(text, a) for a in answers)


def _tokens(text: str) -> list[str]:
    return normalize_answer(text).split()


def exact_match(prediction: str, answers: Sequence[str]) -> bool:
    """SQuAD exact match against any gold answer."""
    pred = normalize_answer(prediction)
    return any(pred == normalize_answer(a) for a in answers)


def token_f1(prediction: str, answers: Sequence[str]) -> float:
    """SQuAD token F1, the best over the gold answers."""
    pred = _tokens(prediction)
    best = 0.0
    for answer in answers:
        gold = _tokens(answer)
        common = sum((Counter(pred) & Counter(gold)).values())
        if not pred or not gold or common == 0:
            continue
        precision, recall = common / len(pred), common / len(gold)
        best = max(best, 2 * precision * recall / (precision + recall))
    return best


def reciprocal_rank(ranked: Sequence[str], answers: Sequence[str]) -> float:
    """1/rank of the first retrieved text holding a gold answer (0 if none)."""
    for i, text in enumerate(ranked, start=1):
        if any(contains_answer(text, a) for a in answers):
            return 1.0 / i
    return 0.0


def url_key(url: str) -> str:
    """A URL as gold sets and stores are compared on (a trailing slash is no difference)."""
    return url.strip().rstrip("/")


def evidence_recall(retrieved_urls: Sequence[str], gold_urls: Sequence[str]) -> float | None:
    """Share of the gold articles among the retrieved ones; None when there are no gold URLs."""
    if not gold_urls:
        return None
    got = {url_key(u) for u in retrieved_urls}
    return sum(url_key(u) in got for u in gold_urls) / len(gold_urls)


Supports = Callable[[str, str], bool]


@dataclass(frozen=True)
class CitationScores:
    """ALCE citation recall and precision of one answer."""

    sentences: int
    recall: float | None
    """Share of sentences whose cited passages together support them; None if no sentence."""
    precision: float | None
    """Share of relevant citations among sentences with recall 1; None if there are none."""


def citation_scores(sentences: Sequence[tuple[str, Sequence[str]]], supports: Supports) -> CitationScores:
    """ALCE citation recall and precision.

    ``sentences`` pairs each claim with the texts of the passages it cites. A
    sentence has recall 1 iff it cites something and the concatenation of its
    cited passages supports it. A citation is irrelevant iff it alone does not
    support the sentence and the other citations do without it; precision is
    the share of citations that are not irrelevant, among sentences with recall 1.
    """
    if not sentences:
        return CitationScores(0, None, None)
    recalled = 0
    relevant = total = 0
    for claim, cited in sentences:
        if not cited or not supports(claim, "\n".join(cited)):
            continue
        recalled += 1
        for i, passage in enumerate(cited):
            total += 1
            others = [p for j, p in enumerate(cited) if j != i]
            irrelevant = not supports(claim, passage) and bool(others) and supports(claim, "\n".join(others))
            relevant += not irrelevant
    return CitationScores(
        sentences=len(sentences),
        recall=recalled / len(sentences),
        precision=relevant / total if total else None,
    )


def precision_recall(predicted: Sequence[bool], actual: Sequence[bool]) -> tuple[float | None, float | None]:
    """Precision and recall of boolean predictions (None where undefined)."""
    tp = sum(p and a for p, a in zip(predicted, actual))
    pp = sum(predicted)
    ap = sum(actual)
    return (tp / pp if pp else None, tp / ap if ap else None)


def bootstrap_ci(
    values: Sequence[float], *, samples: int = 1000, seed: int = 0, level: float = 0.95
) -> tuple[float, float, float]:
    """Mean and a percentile bootstrap confidence interval; deterministic for a seed."""
    import random

    if not values:
        raise ValueError("no values to bootstrap")
    rng = random.Random(seed)
    n = len(values)
    means = sorted(sum(values[rng.randrange(n)] for _ in range(n)) / n for _ in range(samples))
    lo = means[int((1 - level) / 2 * samples)]
    hi = means[min(samples - 1, int((1 + level) / 2 * samples))]
    return sum(values) / n, lo, hi


def percentile(values: Sequence[float], q: float) -> float | None:
    """The ``q``-quantile (0..1) of ``values`` by linear interpolation; None when empty."""
    ordered = sorted(values)
    if not ordered:
        return None
    pos = (len(ordered) - 1) * q
    lo = int(pos)
    hi = min(lo + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (pos - lo)
