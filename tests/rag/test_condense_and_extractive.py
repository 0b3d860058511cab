"""Offline follow-up rewriting, sentence evidence scoring and the extractive generator."""

from __future__ import annotations

from rag.condense import offline_condense, split_context
from rag.evidence import rank_sentences
from rag.generators import ExtractiveGenerator, format_date
from rag.prompt import REFUSAL
from rag.types import Passage

HISTORY = [("What did Pakistan's army do in Balochistan on Saturday?", "Troops killed 22 militants [1].")]


def test_standalone_questions_are_left_alone() -> None:
    q = "Who won the Eurovision song contest in Turin this year?"
    assert offline_condense(q, HISTORY) == q
    assert offline_condense("And what did he say?", []) == "And what did he say?"


def test_follow_up_carries_names_and_key_words() -> None:
    out = offline_condense("And what did the minister say?", HISTORY)
    own, context = split_context(out)
    assert own == "And what did the minister say?"
    assert "Pakistan's" in context and "Balochistan" in context and "Saturday" in context
    assert "What" not in context.split()


def _p(n: int, text: str, published: str = "2022-06-12") -> Passage:
    return Passage(n, f"c{n}", text, f"a{n}", "", "T", "s", published, 0, len(text), 1.0)


def test_rank_sentences_prefers_the_rare_question_words() -> None:
    passages = [
        _p(1, "The show was popular in many countries last year. Critics liked the show a lot."),
        _p(2, "Netflix said the hit series Squid Game was renewed for a second season."),
    ]
    best = rank_sentences("Which popular series was renewed for a second season?", passages)[0]
    assert best.passage.n == 2 and best.text.startswith("Netflix said")
    assert 0 < best.score <= 1


def test_extractive_generator_quotes_and_dates_its_sources() -> None:
    passages = [_p(1, "Netflix said the hit series Squid Game was renewed for a second season."),
                _p(2, "The series Squid Game was renewed for a second season, the studio said on Sunday.",
                   published="2022-06-13")]
    text = ExtractiveGenerator().generate("Which series was renewed for a second season?", passages)
    assert text.startswith("As of 12 Jun 2022, Netflix said the hit series Squid Game was renewed")
    assert text.count("[") == 1  # the near-identical second sentence adds nothing
    assert ExtractiveGenerator().generate("Which series?", []) == REFUSAL
    assert format_date("2026-02-04") == "4 Feb 2026"


def test_extractive_generator_is_deterministic() -> None:
    passages = [_p(i, f"Officials in town {i} said the flood forced {i * 100} residents to leave.") for i in range(1, 6)]
    runs = {ExtractiveGenerator().generate("How many residents left because of the flood?", passages) for _ in range(3)}
    assert len(runs) == 1


def test_sentences_holding_the_asked_kind_of_thing_rank_first() -> None:
    passages = [_p(1, "Residents left the flooded valley, officials said on Monday."),
                _p(2, "About 3,000 residents left the flooded valley by Sunday night.")]
    assert rank_sentences("How many residents left the flooded valley?", passages)[0].passage.n == 2
    named = [_p(1, "The award was given at the ceremony in the capital."),
             _p(2, "The award was given to Maria Lopez at the ceremony.")]
    assert rank_sentences("Who was the award given to at the ceremony?", named)[0].passage.n == 2


def test_the_sentence_beside_the_best_one_brings_the_answer_it_lacks() -> None:
    # The lead names the subject; the next sentence matches the question's words.
    passage = _p(1, "Kentucky Fried Chicken Nuggets go on sale in Charlotte on Monday. "
                    "The chain is trying out a new menu item to attract younger consumers. "
                    "Sales of chicken rose last year.")
    text = ExtractiveGenerator().generate("Which menu item did the chain try out to attract younger consumers?",
                                          [passage])
    assert text.startswith("As of 12 Jun 2022, Kentucky Fried Chicken Nuggets go on sale")
    assert text.index("Nuggets") < text.index("trying out")  # in the article's order
    assert text.count("[1]") == 2
    # A best sentence that holds the answer already stands alone.
    named = _p(2, "Sales of chicken rose last year. The chain said KFC Nuggets will attract younger consumers. "
                  "Analysts agreed with the company.")
    alone = ExtractiveGenerator().generate("Which menu item will attract younger consumers?", [named])
    assert alone.count("[2]") == 1 and "Sales" not in alone and "Analysts" not in alone


def test_a_quoted_headline_without_full_stop_stays_its_own_sentence() -> None:
    passages = [_p(1, "Where to find cheap gas: Sheetz lowers gas prices to $3.99 a gallon through July 4\n\n"
                      "Drivers paid $4.94 a gallon on average a week earlier.")]
    text = ExtractiveGenerator().generate("Which retailer lowered gas prices to $3.99 a gallon?", passages)
    assert "July 4 [1]." in text
