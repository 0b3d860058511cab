"""The `rag` command: ingest summary and exit status, delete, stats, errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from tests.helpers import article, write_jsonl
from ui.cli import cli


@pytest.fixture
def run(tmp_path: Path, hashing: object):  # type: ignore[no-untyped-def]
    runner = CliRunner()
    base = ["--data-dir", str(tmp_path / "data"), "--corpus", "clitest"]

    def invoke(*args: str) -> object:
        return runner.invoke(cli, base + list(args), env={"RAG_EMBED_BACKEND": "hashing"},
                             catch_exceptions=False)

    return invoke


def test_ingest_stats_delete(tmp_path: Path, run) -> None:  # type: ignore[no-untyped-def]
    src = write_jsonl(tmp_path / "a.jsonl", [article(i) for i in range(5)])
    res = run("ingest", str(src))
    assert res.exit_code == 0, res.output
    assert "5 added, 0 updated, 0 unchanged" in res.output
    res = run("ingest", "--quiet", str(src))
    assert "0 added, 0 updated, 5 unchanged; 0 chunks" in res.output

    stats = json.loads(run("stats", "--json").output)
    assert stats["articles"] == 5 and stats["first_published"] == "2022-06-01"
    assert "articles:  5" in run("stats").output

    res = run("delete", "--id", "art-1", "--url", "https://news.example.com/2")
    assert res.exit_code == 0 and "Deleted 2 articles" in res.output
    res = run("delete", "--source", "nobody.example")
    assert res.exit_code == 1 and "Deleted 0 articles" in res.output
    assert json.loads(run("stats", "--json").output)["articles"] == 3


def test_ingest_exit_status_names_bad_file_and_line(tmp_path: Path, run) -> None:  # type: ignore[no-untyped-def]
    src = tmp_path / "a.jsonl"
    src.write_text(json.dumps(article(0)) + "\n{oops\n")
    res = run("ingest", str(src))
    assert res.exit_code == 1
    assert f"{src}:2: malformed JSON" in res.output
    assert "1 added" in res.output


def test_sample_and_usage_errors(run) -> None:  # type: ignore[no-untyped-def]
    res = run("ingest", "--sample")
    assert res.exit_code == 0 and "1 added" in res.output
    assert run("ingest").exit_code == 2
    assert run("delete").exit_code == 2


def test_config_error_is_one_line(tmp_path: Path) -> None:
    res = CliRunner().invoke(cli, ["--corpus", "bad name", "stats"])
    assert res.exit_code == 1
    assert res.output.startswith("Error: Setting 'corpus'")
    assert "Traceback" not in res.output


def test_stats_of_missing_corpus(tmp_path: Path) -> None:
    res = CliRunner().invoke(cli, ["--data-dir", str(tmp_path), "--corpus", "nothing", "stats"])
    assert res.exit_code == 1 and "has no articles yet" in res.output


def test_conventions_version_stdin_refusal_status_json_errors_search(tmp_path: Path, run) -> None:  # type: ignore[no-untyped-def]
    assert run("--version").output.startswith("rag, version ")
    bad = run("ask", "--generator", "nope", "Who?")
    assert bad.exit_code == 2 and "'nope' is not one of extractive, local, openai" in bad.output

    missing = run("ask", "Who won?", "--json")
    assert missing.exit_code == 1
    err = json.loads(missing.output)
    assert err["ok"] is False and err["type"] == "IndexNotFound"
    assert "`rag --corpus clitest ingest PATH`" in err["error"]  # a hint that names options that exist

    run("ingest", str(write_jsonl(tmp_path / "a.jsonl", [article(i) for i in range(4)])))
    runner = CliRunner()
    base = ["--data-dir", str(tmp_path / "data"), "--corpus", "clitest"]
    piped = runner.invoke(cli, [*base, "ask", "-", "--json"], input="How many people attended the flood meeting?\n",
                          env={"RAG_EMBED_BACKEND": "hashing"})
    assert json.loads(piped.output)["question"].startswith("How many people attended")
    refused = run("ask", "What is the boiling point of tungsten on Mars?")
    assert refused.exit_code == 3 and "do not say" in refused.output

    found = json.loads(run("search", "flood report meeting", "-k", "2", "--json").output)
    assert found["ok"] and len(found["passages"]) == 2 and found["passages"][0]["url"].startswith("https://news.example.com/")


def test_backends_lists_each_registration_and_its_key(run, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    res = run("backends", "--json")
    assert res.exit_code == 0, res.output
    rows = {(r["kind"], r["name"]): r for r in json.loads(res.output)}
    assert {("embedder", "local"), ("embedder", "openai"), ("embedder", "hashing"), ("generator", "extractive"),
            ("generator", "openai"), ("generator", "local"), ("judge", "lexical"), ("judge", "relations")} <= set(rows)
    assert rows[("embedder", "local")]["default_model"] == "all-MiniLM-L6-v2"
    assert rows[("generator", "openai")]["key_env"] == "OPENAI_API_KEY" and rows[("generator", "openai")]["key_set"]
    assert [r["name"] for r in rows.values() if r["chosen"]] == ["hashing", "extractive", "relations"]
    assert "key $OPENAI_API_KEY (set)" in run("backends").output
