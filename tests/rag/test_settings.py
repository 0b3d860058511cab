"""Settings precedence (flag > env > TOML > default) and clear config errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from rag.errors import ConfigError
from rag.settings import Settings, load_settings


def test_defaults() -> None:
    s = load_settings()
    assert (s.corpus, s.embed_backend, s.chroma_host) == ("news", "local", None)
    assert s.chunk_overlap < s.chunk_size


def test_precedence_flag_env_toml_default(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    toml = tmp_path / "rag.toml"
    toml.write_text('corpus = "from-toml"\nchunk_size = 300\nchunk_overlap = 10\n')
    assert load_settings(toml).corpus == "from-toml"
    monkeypatch.setenv("RAG_CORPUS", "from-env")
    s = load_settings(toml)
    assert (s.corpus, s.chunk_size) == ("from-env", 300)
    assert load_settings(toml, corpus="from-flag").corpus == "from-flag"
    assert load_settings(toml, corpus=None).corpus == "from-env"  # an absent flag falls through


def test_rag_toml_in_cwd_and_rag_config_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "rag.toml").write_text('corpus = "cwd-file"\n')
    assert load_settings().corpus == "cwd-file"
    other = tmp_path / "other.toml"
    other.write_text('corpus = "env-file"\n')
    monkeypatch.setenv("RAG_CONFIG", str(other))
    assert load_settings().corpus == "env-file"


def test_unknown_key_and_wrong_type_are_named(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text("chunk_sise = 10\n")
    with pytest.raises(ConfigError, match="Unknown setting 'chunk_sise'"):
        load_settings(bad)
    bad.write_text('chunk_size = "big"\n')
    with pytest.raises(ConfigError, match="'chunk_size'"):
        load_settings(bad)
    with pytest.raises(ConfigError, match="chunk_overlap"):
        load_settings(chunk_size=100, chunk_overlap=100)
    with pytest.raises(ConfigError, match="'corpus'"):
        load_settings(corpus="no spaces allowed")
    with pytest.raises(ConfigError, match="not found"):
        load_settings(tmp_path / "missing.toml")


def test_env_var_types(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RAG_SKIP_NEAR_DUPLICATES", "true")
    monkeypatch.setenv("RAG_JSONL_FIELDS", '{"text": "body"}')
    s = load_settings()
    assert s.skip_near_duplicates is True and s.jsonl_fields == {"text": "body"}


def test_settings_are_frozen() -> None:
    s = load_settings()
    with pytest.raises(Exception):
        s.corpus = "x"  # type: ignore[misc]
    assert isinstance(s, Settings)


def test_secrets_are_named_not_stored() -> None:
    # Settings hold the names of the variables carrying keys, never the keys.
    fields = Settings.model_fields
    assert "openai_api_key_env" in fields and "openai_api_key" not in fields
    assert "chroma_token_env" in fields
