"""README stays true: every setting and every `rag` subcommand is described,
and the test command CI runs is the one README gives."""

from __future__ import annotations

from pathlib import Path

from ui.cli import cli
from rag.settings import Settings

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()


def test_every_setting_is_documented() -> None:
    for name in Settings.model_fields:
        assert f"| `{name}` | `RAG_{name.upper()}` |" in README, name


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
