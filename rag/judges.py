"""The support judges by the name the ``verifier`` setting gives: the word-level judge of
:mod:`rag.verify` and the dependency-parse judge of :mod:`rag.relations` (spaCy, imported
only when it is used). A new judge registers here (README, "How the code is laid out")."""

from __future__ import annotations

from rag.backends import Backend, Registry
from rag.verify import LexicalJudge, SupportJudge


def _relations() -> SupportJudge:
    from rag.relations import RelationJudge

    return RelationJudge()


JUDGES: Registry[SupportJudge] = Registry("verifier")
"""Support judges by name; factories take no arguments."""
JUDGES.register(Backend("lexical", LexicalJudge))
JUDGES.register(Backend("relations", _relations))


def make_judge(name: str) -> SupportJudge:
    """The support judge called ``name`` ('relations', 'lexical', or one registered)."""
    return JUDGES.get(name).factory()
