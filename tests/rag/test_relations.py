"""The relation judge: roles, values, polarity, modality and attribution, and
sentences that join facts from two passages judged clause by clause."""

from __future__ import annotations

import pytest

from rag.relations import RelationJudge
from rag.types import Passage
from rag.verify import LexicalJudge, clauses, verify

BALOCHISTAN = (
    "The Pakistan government's remarks come as its security forces killed 22 more of who they described as "
    "militants in Balochistan, raising the death toll of to 177 in the last two days in the province after "
    "alleged coordinated attacks at multiple places."
)
BLA = (
    "Speaking on the alleged nexus between criminals and militants, Asif said that criminal gangs were "
    "operating under the banner of the banned Baloch Liberation Army (BLA), which protects smugglers."
)
OILERS = "Edmonton was swept in the first round by the Winnipeg Jets, ending a season of high hopes."
INFLATION = ("Inflation hit a fresh 39-year high in December as a drop in energy costs wasn't enough to offset "
             "a steady march upward for staples such as food and rent.")
YAHOO = ("Four people, including two Russian intelligence officers, were charged in that attack, the "
         "Justice Department said on Wednesday.")
GAS_TAX = ("President Joe Biden on Wednesday called on Congress to suspend the federal gas tax for the next "
           "three months to give Americans relief as gas prices soar.")
STRIKE = ('"The company\'s offer, in many ways, is worse than its previous offers," said Kim Cordova, '
          "president of the local union.")

J = RelationJudge()


@pytest.mark.parametrize(("claim", "passage", "why"), [
    ("Security forces killed 177 more militants in the last two days.", BALOCHISTAN, "177"),
    ("Asif said the smugglers protect the Baloch Liberation Army.", BLA, "other way round"),
    ("Edmonton swept the Winnipeg Jets in the first round.", OILERS, "other way round"),
    ("A rise in energy costs pushed inflation to a fresh 39-year high in December.", INFLATION, "drop"),
    ("Four people, including two Russian intelligence officers, were convicted over the attack.", YAHOO, "charge"),
    ("President Biden suspended the federal gas tax for three months.", GAS_TAX, "call"),
    ("A company spokesperson said its offer was in many ways worse than its previous offers.", STRIKE, "cordova"),
])
def test_wrong_relations_are_caught_with_a_reason(claim: str, passage: str, why: str) -> None:
    assert LexicalJudge(negation=False).judge(claim, passage).supported  # the words are all there
    j = J.judge(claim, passage)
    assert not j.supported and why in j.reason.lower()


@pytest.mark.parametrize(("claim", "passage"), [
    ("Pakistani security forces killed 22 more militants, bringing the death toll to 177 over two days.",
     BALOCHISTAN),
    ("Asif said criminal gangs operate under the banner of the Baloch Liberation Army, which protects smugglers.",
     BLA),
    ("The Winnipeg Jets swept Edmonton in the first round.", OILERS),
    ("Four people, including two Russian intelligence officers, were charged in the attack.", YAHOO),
    ("Biden called on Congress to suspend the federal gas tax for three months.", GAS_TAX),
    ("Kim Cordova, the local union's president, said the company's offer was worse than its previous offers.",
     STRIKE),
])
def test_faithful_rewordings_are_kept(claim: str, passage: str) -> None:
    j = J.judge(claim, passage)
    assert j.supported, j.reason


def test_a_verbatim_quote_needs_no_parse() -> None:
    assert J.judge(BALOCHISTAN, BALOCHISTAN).supported


def _p(n: int, text: str) -> Passage:
    return Passage(n, f"c{n}", text, f"a{n}", "", "T", "s", "2026-02-04", 0, len(text), 1.0)


def test_joined_facts_are_judged_clause_by_clause() -> None:
    p1 = _p(1, BALOCHISTAN)
    p2 = _p(2, "Officials said the operation was launched after militants carried out attacks at several "
               "locations on Saturday.")
    sentence = ("Security forces killed 22 more militants in Balochistan [1], after militants carried out "
                "attacks at several locations on Saturday [2].")
    assert clauses(sentence) == [
        ("Security forces killed 22 more militants in Balochistan", (1,)),
        ("militants carried out attacks at several locations on Saturday.", (2,)),
    ]
    v = verify(sentence, [p1, p2], J).sentences[0]
    assert v.status == "supported" and v.citations == (1, 2) and {s.passage for s in v.supports} == {1, 2}
    # One wrong clause sinks the sentence, with the reason in plain words.
    wrong = sentence.replace("22 more", "177 more")
    v = verify(wrong, [p1, p2], J).sentences[0]
    assert v.status == "unsupported" and "177" in v.reason
