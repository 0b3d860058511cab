"""Turn a follow-up question into a standalone one before retrieval.

With an LLM generator the model rewrites it (a condense prompt). Offline, a
deterministic rewrite carries the earlier turn's key terms: a question that
leans on the conversation (pronouns, "and ...", "what about ...", or too few
words of its own) gets the names and content words of the previous question
appended, so retrieval still finds the story being discussed.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from rag.verify import content_words

_CONNECTIVE = re.compile(r"^\s*(and|but|also|so|what about|how about|then)\b", re.IGNORECASE)
_PRONOUN = re.compile(r"\b(he|she|it|they|them|his|her|its|their|him)\b", re.IGNORECASE)
_MIN_OWN_WORDS = 3
# A pronoun in a question this short most likely points back into the conversation.
_SHORT_WITH_PRONOUN = 6
# Carried terms are bracketed so that evidence scoring can weigh them less.
_OPEN, _CLOSE = "(context: ", ")"
_CARRY = 8


def offline_condense(question: str, history: Sequence[tuple[str, str]]) -> str:
    """``question`` with the previous turn's key terms when it depends on them."""
    if not history:
        return question
    own = content_words(question)
    leans = (
        _CONNECTIVE.search(question) is not None
        or len(own) < _MIN_OWN_WORDS
        or (_PRONOUN.search(question) is not None and len(own) < _SHORT_WITH_PRONOUN)
    )
    if not leans:
        return question
    previous_q = history[-1][0]
    carried = [w for w in _key_terms(previous_q) if w.lower() not in {o.lower() for o in own}]
    if not carried:
        return question
    return f"{question.rstrip()} {_OPEN}{' '.join(carried[:_CARRY])}{_CLOSE}"


def split_context(standalone: str) -> tuple[str, str]:
    """Split an offline rewrite into the user's own question and the carried terms."""
    if standalone.endswith(_CLOSE) and _OPEN in standalone:
        own, _, carried = standalone[: -len(_CLOSE)].rpartition(_OPEN)
        return own.rstrip(), carried
    return standalone, ""


def _key_terms(text: str) -> list[str]:
    # Names first (they identify the story), then other content words, in order.
    names = re.findall(r"\b[A-Z][a-zA-Z'\u2019-]+(?:\s+[A-Z][a-zA-Z'\u2019-]+)*", text)
    terms: list[str] = []
    seen: set[str] = set()
    for term in names + content_words(text):
        key = term.lower()
        if key in seen or key in {"what", "who", "which", "when", "where", "how", "why"}:
            continue
        seen.add(key)
        terms.append(term)
    return terms
