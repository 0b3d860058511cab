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


# A number is one token: "1,000" is 1000 and "6.5" is not "6" followed by "5".
_WORD = re.compile(r"\d+(?:,\d{3})*(?:\.\d+)?(?!\w)|[^\W_]+")
_UNITS = {
    w: i
    for i, w in enumerate(
        "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen sixteen"
        " seventeen eighteen nineteen".split()
    )
}
_TENS = {w: 10 * i for i, w in enumerate("twenty thirty forty fifty sixty seventy eighty ninety".split(), 2)}
_PLURAL = ("s", "es")
_DEMONYM = ("n", "an", "ian", "ese", "i")  # Arabia -> Arabian, Japan -> Japanese, Iraq -> Iraqi
# News writes money in digits; a spelled number near a price is a count ("one in three"), not "$3".
_MONEY = re.compile(r"[$£€¥]\s*\d")


def _below_thousand(words: list[str], i: int) -> tuple[int, int] | None:
    """The value of number words from ``words[i]`` below 1000 ("two hundred five") and where it ends."""
    if i < len(words) and words[i] in _TENS:
        value, i = _TENS[words[i]], i + 1
        if i < len(words) and 0 < _UNITS.get(words[i], 0) < 10:
            value, i = value + _UNITS[words[i]], i + 1
    elif i < len(words) and words[i] in _UNITS:
        value, i = _UNITS[words[i]], i + 1
        if 0 < value < 10 and i < len(words) and words[i] == "hundred":
            rest = _below_thousand(words, i + 1)
            value, i = (100 * value + rest[0], rest[1]) if rest and 0 < rest[0] < 100 else (100 * value, i + 1)
    else:
        return None
    return value, i


def answer_words(text: str, spelled: bool = True) -> list[str]:
    """Lower-cased words of ``text`` without articles, numbers canonical: "twenty-five" and "25" are "25".

    Only integers below a million are read from words; "million" and "billion"
    stay words so that "six billion" and "$6 billion" both read "6 billion".
    With ``spelled`` false, number words are left as words.
    """
    words = [w.replace(",", "") for w in _WORD.findall(text.lower()) if w not in ("a", "an", "the")]
    out: list[str] = []
    i = 0
    while i < len(words):
        number = _below_thousand(words, i) if spelled else None
        if number is None:
            out.append(words[i])
            i += 1
            continue
        value, i = number
        if value and i < len(words) and words[i] == "thousand":
            rest = _below_thousand(words, i + 1)
            value, i = (1000 * value + rest[0], rest[1]) if rest and rest[0] else (1000 * value, i + 1)
        out.append(str(value))
    return out


def _inflected(gold: str, word: str, proper: bool) -> bool:
    """True if ``word`` is ``gold`` up to a plural or, for a proper name, a demonym ending."""
    if gold == word:
        return True
    # Short words and numbers are exact: "6"/"60", "jet"/"jets", "mar"/"mars" are different things.
    if not (gold.isalpha() and word.isalpha()) or min(len(gold), len(word)) < 4:
        return False
    for stem, other in ((gold, word), (word, gold)):  # "nugget" matches "nuggets" either way round
        if other in [stem + e for e in _PLURAL] or (stem.endswith("y") and other == stem[:-1] + "ies"):
            return True
    # Demonyms only lengthen the gold name: "India" matches "Indian", never "Indiana".
    return proper and word in [gold + e for e in _DEMONYM]


def contains_answer(text: str, answer: str) -> bool:
    """True if ``answer`` occurs in ``text`` as a contiguous run of words.

    Words compare after ``answer_words`` (case, articles, punctuation and the
    spelling of numbers do not matter); all but the last must be equal, and the
    last may differ by a plural ending ("Chicken nuggets" / "chicken nugget") or,
    when the answer is a capitalized name, a demonym ending ("Saudi Arabia" /
    "Saudi Arabian"). Possessives need nothing: "Arabia's" reads "arabia s".
    A sum of money ("$3") matches only numbers written in digits.
    """
    gold, words = answer_words(answer), answer_words(text, spelled=not _MONEY.search(answer))
    if not gold:
        return False
    proper = _WORD.findall(answer)[-1][:1].isupper()
    *head, last = gold
    n = len(head)
    return any(
        words[i : i + n] == head and _inflected(last, words[i + n], proper) for i in range(len(words) - n)
    )


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


def wilson_ci(successes: int, n: int, *, level: float = 0.95) -> tuple[float, float]:
    """Wilson score interval of a proportion (scipy's): unlike a bootstrap, it does not
    collapse to a point when every question succeeds or every one fails."""
    from scipy.stats import binomtest

    ci = binomtest(successes, n).proportion_ci(confidence_level=level, method="wilson")
    return float(ci.low), float(ci.high)


def mean_ci(values: Sequence[float], *, level: float = 0.95) -> tuple[float, float, float]:
    """Mean and confidence interval: Wilson's for yes/no values, else the bootstrap's."""
    if values and all(v in (0.0, 1.0) for v in values):
        hits = int(sum(values))
        return (hits / len(values), *wilson_ci(hits, len(values), level=level))
    return bootstrap_ci(values, level=level)


def percentile(values: Sequence[float], q: float) -> float | None:
    """The ``q``-quantile (0..1) of ``values`` by linear interpolation; None when empty."""
    ordered = sorted(values)
    if not ordered:
        return None
    pos = (len(ordered) - 1) * q
    lo = int(pos)
    hi = min(lo + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (pos - lo)
