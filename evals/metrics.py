"""Pure metric functions over text, shared by the benchmarks and the eval suite.

Retrieval is scored on text (is the gold answer in what was retrieved?) rather
than on chunk ids, so figures survive re-chunking.
"""

from __future__ import annotations

import re
import string
from collections.abc import Callable, Sequence

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
