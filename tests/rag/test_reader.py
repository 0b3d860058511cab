"""The extractive reader: what a question asks for, its time frame, quotable spans,
and answers chosen by the thing asked for rather than by repeated words."""

from __future__ import annotations

from datetime import date

import numpy as np
import pytest

from rag.evidence import quote_spans
from rag.generators import ExtractiveGenerator
from rag.prompt import REFUSAL
from rag.question import answer_kind, time_frame
from rag.reader import Reader
from rag.retrieve import recency
from rag.types import Passage


def _p(n: int, text: str, published: str = "2022-06-12") -> Passage:
    return Passage(n, f"c{n}", text, f"a{n}", "", "T", "s", published, 0, len(text), 1.0)


def test_answer_kinds() -> None:
    cases = {
        "Which wildly popular show was recently green lit for a new season?": "title",
        "Which tennis star pulled out of Wimbledon ahead of the semi-finals?": "person",
        "Which island nation plunged into chaos in recent days?": "place",
        "How many people died in Balochistan?": "number",
        "What happened in Balochistan?": "thing",
        "Who won the NHL's Hart Trophy?": "person",
        "When did the militants attack?": "date",
        "What company bought Twitter?": "organisation",
        "Which menu item did the chain try out?": "name",
        "Where was the train travelling to?": "place",
    }
    assert {q: answer_kind(q) for q in cases} == cases


def test_time_frame_reads_time_words_against_the_reference_date() -> None:
    ref = date(2022, 6, 16)
    week = time_frame("Who won the trophy this week?", ref)
    assert week is not None and week.start == date(2022, 6, 8) and week.holds(date(2022, 6, 15))
    assert not week.holds(date(2021, 6, 15))
    month = time_frame("What did the Fed do last month?", ref)
    assert month is not None and month.start == date(2022, 5, 12)
    year = time_frame("Who won the title in 2021?", ref)
    assert year is not None and (year.start, year.end) == (date(2021, 1, 1), date(2021, 12, 31))
    assert time_frame("Who won the title?", None) is None
    # Retrieval's recency prior follows the frame: last year's article counts in 2021's frame.
    assert recency(date(2021, 6, 1).toordinal(), year) == 1.0
    assert recency(date(2021, 6, 1).toordinal(), week) < 0.1


def test_quote_spans_cut_scraped_glue_without_changing_words() -> None:
    text = ("Pakistan defence minister's big remark Pakistan's defence minister Khawaja Asif on Monday said "
            "that troops were needed. Please share these stories.Political geographers say it is vast.")
    quoted = [text[s:e] for s, e in quote_spans(text)]
    assert quoted == [
        "Pakistan's defence minister Khawaja Asif on Monday said that troops were needed.",
        "Please share these stories.",
        "Political geographers say it is vast.",
    ]
    # A plain sentence that starts with a name is left whole.
    plain = "Khawaja Asif said on Monday that the government needed to deploy troops in the province."
    assert [plain[s:e] for s, e in quote_spans(plain)] == [plain]


def test_the_answer_names_the_thing_asked_for_not_the_question_restated() -> None:
    passages = [
        _p(1, "Netflix announced Sunday that the wildly popular show is green lit for a second season. "
              "The streamer did not say when it would air."),
        _p(2, "'Squid Game' season 2 is coming to Netflix, the company said in a letter from its creator."),
    ]
    read = Reader().read("Which wildly popular show was recently green lit for a new season?", passages,
                         date(2022, 6, 16))
    assert read.kind == "title" and read.answer == "squid game"
    # Without an embedder the reader has words only: no answerability floor for this check.
    text = ExtractiveGenerator(answerable=0.0).generate(
        "Which wildly popular show was recently green lit for a new season?", passages, reference=date(2022, 6, 16))
    assert "Squid Game" in text


def test_articles_from_outside_the_time_frame_yield_to_this_weeks() -> None:
    old = _p(1, "Nikita Kucherov won the Hart Trophy as the NHL's most valuable player on Wednesday night.",
             published="2019-06-20")
    new = _p(2, "Auston Matthews won the Hart Trophy as the NHL's most valuable player on Tuesday night.",
             published="2022-06-22")
    text = ExtractiveGenerator(answerable=0.0).generate("Who won the NHL's Hart Trophy this week?", [old, new],
                                                        reference=date(2022, 6, 24))
    assert "Matthews" in text and "Kucherov" not in text


def test_semantic_similarity_is_used_when_an_embedder_is_given() -> None:
    calls: list[int] = []

    def embed(texts: list[str]) -> np.ndarray:
        calls.append(len(texts))
        # A toy embedding: the question is closest to the sentence about rain.
        vecs = np.array([[1.0, 0.2] if ("rain" in t or "?" in t) else [0.0, 1.0] for t in texts])
        return vecs / np.linalg.norm(vecs, axis=1, keepdims=True)

    passages = [_p(1, "The valley flooded after three days of heavy rain, officials said on Monday. "
                      "The valley is popular with hikers in summer and autumn.")]
    read = Reader(embed=embed).read("Why did the valley flood?", passages)
    assert calls
    # The toy cosines, so the reader used the vectors it was given: 1 for the rain
    # sentence, 0.2/|(1, 0.2)| for the other.
    sims = {"rain" in r.sentence.text: r.similarity for r in read.readings}
    assert sims[True] == pytest.approx(1.0) and sims[False] == pytest.approx(0.2 / (1.04 ** 0.5))
    assert "rain" in read.readings[0].sentence.text


def test_no_relevant_sentence_is_a_refusal() -> None:
    passages = [_p(1, "The library will close for renovation in March, the council said.")]
    assert ExtractiveGenerator().generate("Who won the Eurovision song contest in Turin?", passages) == REFUSAL
