"""Feedback in SQLite and its export as gold candidates that `rag eval` loads."""

from __future__ import annotations

from pathlib import Path

import pytest

from evals.gold import load_gold
from ui.feedback import FeedbackStore


def test_record_update_list_and_export(tmp_path: Path) -> None:
    store = FeedbackStore(tmp_path / "fb.sqlite")
    common = {"corpus": "news", "generator": "extractive", "sources": ["https://n.example/a"]}
    up = store.record(question="Who leads?", answer="As of 4 Feb 2026, Asif leads [1].", status="answered",
                      rating=1, **common)
    assert store.record(question="Who leads?", answer="x", status="answered", comment="good", feedback_id=up,
                        **common) == up
    store.record(question="Wheat price?", answer="The articles do not say.", status="refused", rating=1, **common)
    store.record(question="Bad?", answer="Wrong [1].", status="answered", rating=-1, **common)
    down = store.record(question="Undo?", answer="x [1].", status="answered", rating=-1, **common)
    assert store.record(question="Undo?", answer="x", status="answered", rating=0, feedback_id=down, **common) == down
    assert store.list(limit=1)[0].rating == 0  # a thumb taken back
    # Someone else's id does not reach the row: a new row is stored instead.
    other = store.record(question="Undo?", answer="x", status="answered", rating=1, feedback_id=down,
                         owner="embed:portal:ab12", **common)
    assert other != down and store.list(limit=2)[1].rating == 0
    rows = [r for r in store.list() if r.question != "Undo?"]
    assert [r.rating for r in rows] == [-1, 1, 1] and rows[2].comment == "good" and rows[2].rating == 1
    assert [r.question for r in store.list(rating=-1)] == ["Bad?"]
    with pytest.raises(ValueError):
        store.record(question="q", answer="a", status="answered", rating=3, **common)

    out = tmp_path / "candidates.jsonl"
    assert store.export_gold(out) == 3
    gold = load_gold(out)
    assert gold[0].answer == "As of 4 Feb 2026, Asif leads." and gold[0].gold_urls == ("https://n.example/a",)
    assert gold[1].answerable is False


def test_a_corrupt_feedback_database_turns_feedback_off_not_the_server(tmp_path: Path, hashing: object) -> None:
    from fastapi.testclient import TestClient

    from index.ingest import ingest
    from index.load import sample_dir
    from rag.settings import load_settings
    from ui.api import create_app

    broken = tmp_path / "fb.sqlite"
    broken.write_bytes(b"SQLite format 3\x00" + b"\xff" * 5000)  # a header, then garbage
    s = load_settings(data_dir=tmp_path / "data", corpus="fbtest", embed_backend="hashing", feedback_db=broken,
                      ui_upload=False)
    ingest([sample_dir()], s)
    with TestClient(create_app(s), raise_server_exceptions=False) as client:
        ask = client.post("/api/ask", json={"question": "How many militants were killed?"})
        assert ask.status_code == 200  # the server answers
        res = client.post("/api/feedback", json={"question": "q", "answer": "a", "rating": 1})
        assert res.status_code == 503 and str(broken) in res.json()["error"] and "moved aside" in res.json()["error"]
    assert broken.read_bytes().startswith(b"SQLite format 3")  # never replaced: people's ratings may be in it
