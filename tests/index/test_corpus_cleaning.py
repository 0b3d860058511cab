"""Measured on the real news corpus: cleaning removes boilerplate and no gold answer.

(The quiz's evidence sentences are paraphrases that occur in no article, so
only answers can be checked.)
"""

from __future__ import annotations

import json

import pytest

from evals.metrics import normalize_answer
from index.clean import BoilerplateCleaner
from tests.conftest import needs_shared_data

pytestmark = pytest.mark.corpus


def test_cleaning_keeps_every_gold_answer_and_evidence() -> None:
    data = needs_shared_data() / "realtimeqa-2022-small"
    texts = [json.loads(line)["text"] for line in (data / "articles.jsonl").open()]
    gold = [json.loads(line) for line in (data / "qa.jsonl").open()]
    cleaner = BoilerplateCleaner().fit(texts)
    cleaned = [cleaner.clean(t) for t in texts]

    removed = sum(cleaner.report.lines.values())
    assert removed > 300, "the corpus's ad/newsletter lines were not removed"
    assert not any("Video player was slow to load content" in t for t in cleaned)
    assert sum(map(len, cleaned)) > 0.99 * sum(map(len, texts)) - sum(cleaner.report.chars.values())

    # Normalize each article once: answers are matched on normalized text.
    raw_norm = [f" {normalize_answer(t)} " for t in texts]
    clean_norm = [f" {normalize_answer(t)} " for t in cleaned]
    checked, lost = 0, []
    for q in gold:
        needle = f" {normalize_answer(q['answer'])} "
        raw_docs = [i for i, t in enumerate(raw_norm) if needle in t]
        if q["answerable"] and raw_docs:
            checked += 1
            if not any(needle in clean_norm[i] for i in raw_docs):
                lost.append(q["answer"])
    assert checked >= 100
    assert lost == []
