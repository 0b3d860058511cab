"""The bundled sample article, asked what a reader would ask: every question gets
the right fact with a citation, and a question the articles do not touch is refused.
Real model, real store (slow)."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from index.ingest import ingest
from index.load import sample_dir
from rag.pipeline import Engine
from rag.settings import load_settings
from rag.types import Filters

# (question, words the answer must hold): each from the article, as a reader would ask.
QUESTIONS = [
    ("How many people died in Balochistan?", "177"),
    ("How many more militants did security forces kill?", "22"),
    ("What is the death toll in Balochistan?", "177"),
    ("Who is Pakistan's defence minister?", "Khawaja Asif"),
    ("Why does Pakistan need to deploy large numbers of troops in Balochistan?", "vast"),
    ("What did Khawaja Asif say about the troops?", "handicapped"),
    ("Which group protects smugglers?", "Baloch Liberation Army"),
    ("Which group claimed responsibility for the Jaffar Express hijacking?", "Baloch Liberation Army"),
    ("Where did the security forces kill the militants?", "Balochistan"),
    ("Which countries border Balochistan?", "Iran"),
    ("How many civilians and security personnel were killed in the Jaffar Express hijacking?", "31"),
    ("How many passengers were held hostage on the Jaffar Express?", "300"),
    ("How much of Pakistan does Balochistan make up geographically?", "40 per cent"),
    ("When did the militants carry out the attacks?", "Saturday"),
    ("Where was the Jaffar Express travelling to?", "Peshawar"),
    ("How much are the CPEC projects worth?", "$60 billion"),
    ("Who did Asif address?", "National Assembly"),
]
SILENT = ["Who won the Eurovision song contest in Turin?", "What is the price of bitcoin today?"]


@pytest.fixture(scope="module")
def engine(tmp_path_factory: pytest.TempPathFactory) -> Engine:
    settings = load_settings(data_dir=tmp_path_factory.mktemp("sample") / "data", corpus="sample")
    report = ingest(sorted(Path(sample_dir()).glob("*.txt")), settings)
    assert report.ok
    return Engine(settings)


@pytest.mark.slow
@pytest.mark.parametrize(("question", "fact"), QUESTIONS)
def test_the_sample_answers_what_a_reader_asks(engine: Engine, question: str, fact: str) -> None:
    ans = engine.ask(question, filters=Filters(reference_date=date(2026, 2, 5)))
    assert not ans.refused, question
    assert fact.lower() in ans.text.lower(), ans.text
    assert ans.citations and all(s.status != "unsupported" for s in ans.sentences)


@pytest.mark.slow
@pytest.mark.parametrize("question", SILENT)
def test_the_sample_is_silent_on_other_news(engine: Engine, question: str) -> None:
    assert engine.ask(question, filters=Filters(reference_date=date(2026, 2, 5))).refused
