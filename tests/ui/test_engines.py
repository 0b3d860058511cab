"""Uploads (API records, API files, chat files) are staged so that uploading the
same article again is idempotent, as re-ingesting the same file is."""

from __future__ import annotations

from pathlib import Path

from rag.settings import Settings
from ui.engines import Engines

TEXT = ("Officials in the valley said on Monday that floods forced 3,000 residents to leave their homes. "
        "Rescue teams reached the last villages by Tuesday night, the regional governor said.")


def test_posting_an_article_without_url_twice_finds_it_unchanged(settings: Settings) -> None:
    engines = Engines(settings)
    record = {"id": "zep-1", "title": "Floods", "text": TEXT, "published": "2026-02-04"}
    first = engines.ingest_records([record])
    again = engines.ingest_records([record])
    assert (first.added, again.added, again.unchanged) == (1, 0, 1)
    assert engines.store().counts()[0] == 1
    changed = engines.ingest_records([{**record, "text": TEXT + " Schools stay closed."}])
    assert (changed.added, changed.updated) == (0, 1)


def test_records_use_the_standard_fields_whatever_jsonl_fields_maps(settings: Settings) -> None:
    # jsonl_fields maps the user's own files ("body" holds the text); posted records are standard.
    engines = Engines(settings.model_copy(update={"jsonl_fields": {"text": "body"}}))
    report = engines.ingest_records([{"id": "a", "text": TEXT}])
    assert report.ok and report.added == 1, report.errors


def test_uploading_the_same_file_twice_finds_it_unchanged(settings: Settings, tmp_path: Path) -> None:
    engines = Engines(settings)
    reports = []
    for _ in range(2):
        with engines.upload_dir() as staging:
            (staging / "floods.txt").write_text(TEXT)
            reports.append(engines.ingest([staging / "floods.txt"]))
        assert list(staging.iterdir()) == []  # nothing is left behind
    assert (reports[0].added, reports[1].added, reports[1].unchanged) == (1, 0, 1)
