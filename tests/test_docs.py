"""README stays true: the settings and input-format tables are generated (cog) from
``Settings`` and ``index.load.FORMATS`` and match them row by row; every `rag` subcommand is
described; the test command CI runs is the one README gives."""

from __future__ import annotations

from pathlib import Path

from cogapp import Cog

from index.load import FORMATS, SUFFIXES, formats_table
from rag.settings import Settings, settings_table
from ui.chat import UPLOAD_TYPES
from ui.cli import cli

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()


def test_every_setting_is_documented() -> None:
    rows = settings_table().splitlines()[2:]
    assert len(rows) == len(Settings.model_fields)
    for name, row in zip(Settings.model_fields, rows, strict=True):
        assert row.startswith(f"| `{name}` | `RAG_{name.upper()}` |") and row in README.splitlines(), name


def test_every_input_format_is_documented_and_uploadable() -> None:
    rows = formats_table().splitlines()[2:]
    for form, row in zip(FORMATS, rows, strict=True):
        assert row in README.splitlines(), form.name
    assert UPLOAD_TYPES == sorted(SUFFIXES) and {".ndjson", ".markdown", ".htm"} <= set(UPLOAD_TYPES)


def test_generated_sections_are_current() -> None:
    # `cog -r README.md` rewrites them; --check fails when README is out of date.
    assert Cog().main(["cog", "--check", str(ROOT / "README.md")]) == 0


def test_every_subcommand_is_documented() -> None:
    for name in cli.commands:
        assert f"rag {name}" in README, name


def test_ci_runs_the_readme_test_command() -> None:
    command = README.split("Run the tests", 1)[1].split("```bash\n", 1)[1].split("\n", 1)[0]
    assert command == ".venv/bin/python -m pytest"
    assert (ROOT / ".ci" / "run").read_text().strip().endswith(command)


def test_readme_has_no_unfilled_placeholders() -> None:
    for marker in ("CHUNK_TABLE", "ANSWER_FIGURES", "SETTINGS_TABLE", "INGEST_FIGURES", "API_LATENCY", "SERVER_FIGURES"):
        assert marker not in README, marker
