"""The one settings object, loaded once at the edge and passed down.

Precedence: explicit overrides (CLI flags) > ``RAG_*`` environment variables >
TOML file (``--config``, ``RAG_CONFIG`` or ``./rag.toml``) > defaults.
Secrets are never stored here: the settings hold the *names* of the
environment variables that carry them.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any, Literal

import platformdirs
from pydantic import Field, ValidationError, field_validator, model_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from rag.errors import ConfigError

_CORPUS_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{1,60}[A-Za-z0-9]$")


class Settings(BaseSettings):
    """Every tunable of ingest and retrieval, each with a default and a description."""

    model_config = SettingsConfigDict(
        env_prefix="RAG_",
        extra="forbid",
        frozen=True,
        validate_default=True,
    )

    data_dir: Path = Field(
        default_factory=lambda: Path(platformdirs.user_data_dir("rag")),
        description="Where the embedded Chroma store and caches live.",
    )
    corpus: str = Field("news", description="Corpus name: the Chroma collection of its chunks.")

    embed_backend: str = Field(
        "local",
        description="'local': bundled all-MiniLM-L6-v2, offline. 'openai': OpenAI-compatible API. "
        "Checked against the registered backends when the embedder is built.",
    )
    embed_model: str = Field(
        "",
        description="Model name or path; empty means the backend's default "
        "(bundled all-MiniLM-L6-v2 / text-embedding-3-small).",
    )
    embed_batch_size: int = Field(64, ge=1, le=2048, description="Texts per embedding call.")
    openai_base_url: str | None = Field(
        None, description="Base URL of an OpenAI-compatible API (vLLM, Ollama, llama.cpp)."
    )
    openai_api_key_env: str = Field(
        "OPENAI_API_KEY", description="Name of the environment variable holding the API key."
    )

    chunk_size: int = Field(
        128,
        ge=32,
        le=8192,
        description="Chunk size in cl100k tokens; all-MiniLM-L6-v2 reads only 256 word pieces, "
        "and 128 retrieved best at equal budgets of retrieved text (README).",
    )
    chunk_overlap: int = Field(16, ge=0, description="Overlap between chunks, in tokens.")

    chroma_host: str | None = Field(
        None, description="Chroma server host; unset means the embedded persistent store."
    )
    chroma_port: int = Field(8000, ge=1, le=65535, description="Chroma server port.")
    chroma_ssl: bool = Field(False, description="Use TLS to reach the Chroma server.")
    chroma_ca_file: Path | None = Field(
        None, description="CA certificate file that signs the Chroma server's TLS certificate (a private CA); "
        "unset trusts the usual public CAs."
    )
    chroma_token_env: str = Field(
        "CHROMA_AUTH_TOKEN",
        description="Name of the environment variable holding the Chroma server's token.",
    )

    retrieval_mode: Literal["hybrid", "dense", "bm25"] = Field(
        "hybrid", description="How passages are found: dense + BM25 fused, or one of them."
    )
    top_k: int = Field(8, ge=1, le=50, description="Passages retrieved per question.")
    recency_weight: float = Field(
        0.5, ge=0.0, description="Boost for articles published shortly before the reference date."
    )
    refusal_threshold: float = Field(
        0.15,
        ge=0.0,
        le=1.0,
        description="The floor for 'nothing relevant was found', checked before any generator: below "
        "this evidence score (share of the question's key words found in one sentence) the answer is "
        "that the articles do not say. An LLM decides the rest itself, checked by verification.",
    )
    answerable_threshold: float = Field(
        0.4,
        ge=0.0,
        le=1.0,
        description="The extractive reader's answerability (meaning, kind of thing asked for, time frame) "
        "below which it says the articles do not say. Calibrated on the dev set (README).",
    )
    verifier: Literal["relations", "lexical"] = Field(
        "relations",
        description="The support judge that checks every answer sentence: 'relations' (words, then who did "
        "what to whom, which number goes with what, polarity, modality, from a dependency parse) or "
        "'lexical' (words only: faster, misses swapped roles and reversed claims).",
    )
    generator: str = Field(
        "extractive", description="'extractive' (offline), 'openai' (any OpenAI-compatible API), 'local' (GGUF)."
    )
    llm_model: str = Field("gpt-4o-mini", description="Model name sent to the OpenAI-compatible API.")
    llm_model_path: str | None = Field(None, description="GGUF file for the 'local' generator.")
    llm_timeout: float = Field(60.0, gt=0, description="Seconds before an LLM call is abandoned.")
    llm_retries: int = Field(2, ge=0, le=10, description="Retries (with backoff) of a failed LLM call.")
    llm_context_tokens: int = Field(8192, ge=512, description="The model's context window, in tokens.")
    llm_max_tokens: int = Field(400, ge=16, description="Longest answer, in tokens.")
    llm_fallback: bool = Field(
        True, description="When the LLM fails, answer extractively (and say so) instead of erroring."
    )

    api_keys_env: str = Field(
        "RAG_API_KEYS",
        description="Name of the environment variable holding comma-separated read API keys; "
        "when no key is configured the API is open (bind to localhost).",
    )
    api_write_keys_env: str = Field(
        "RAG_API_WRITE_KEYS",
        description="Name of the environment variable holding comma-separated keys allowed to ingest and delete.",
    )
    max_question_chars: int = Field(2000, ge=10, description="Longer questions are refused (HTTP 422).")
    max_request_mb: float = Field(20.0, gt=0, description="Larger HTTP request bodies are refused (HTTP 413).")
    header_timeout: float = Field(
        10.0, gt=0,
        description="Seconds a connection to `rag serve` may take to send a request's line and headers, from "
        "its opening or its last answer; then it is closed, so idle sockets cannot use up the server's files.",
    )
    rate_limit: str = Field(
        "30/minute",
        description="Questions and searches per client (API key, embed token or IP), in the `limits` "
        "notation ('30/minute', '500/hour'); '' turns the limit off.",
    )
    rate_limit_storage: str = Field(
        "memory://",
        description="Where rate-limit counters live: 'memory://' (per replica) or e.g. "
        "'redis://host:6379' (shared by all replicas).",
    )
    trusted_proxies: list[str] = Field(
        default_factory=list,
        description="Addresses (or networks, e.g. '10.0.0.0/8') of the reverse proxies in front of the server: "
        "only a request from one of them has its client taken from X-Forwarded-For, so users behind a portal "
        "get a rate limit each. Empty: the header is ignored.",
    )
    cors_origins: list[str] = Field(
        default_factory=list, description="Browser origins allowed to call the API (CORS), e.g. ['https://portal.example']."
    )
    frame_ancestors: list[str] = Field(
        default_factory=list,
        description="Origins allowed to show /embed in an iframe (CSP frame-ancestors); other pages "
        "may only be framed by their own origin.",
    )
    embed_secret_env: str = Field(
        "RAG_EMBED_SECRET",
        description="Name of the environment variable holding the secret that signs embed tokens "
        "(the same on every replica).",
    )
    embed_token_ttl: int = Field(
        900, ge=30, le=86_400, description="Longest lifetime of an embed token, in seconds."
    )
    ui_users_env: str = Field(
        "RAG_UI_USERS",
        description="Name of the environment variable holding 'user:password' pairs (comma-separated); "
        "when set, the chat asks for a login. With API keys set and no users, the chat is off.",
    )
    ui_upload: bool = Field(
        True, description="Offer article upload in the chat (only to logged-in users when API keys are set)."
    )
    ui_examples: list[str] = Field(
        default_factory=list,
        description="Example questions shown in the chat; empty means the bundled sample's questions when "
        "the sample is loaded, else questions on the newest articles' titles.",
    )
    feedback_db: Path | None = Field(
        None, description="SQLite file of answer feedback; unset means feedback.sqlite in data_dir."
    )

    clean_boilerplate: bool = Field(
        True, description="Remove ad, video-player, newsletter and repeated template lines."
    )
    skip_near_duplicates: bool = Field(
        False, description="Skip articles that nearly duplicate one already stored."
    )
    near_duplicate_threshold: float = Field(
        0.8, gt=0.0, le=1.0, description="Estimated Jaccard similarity that marks a near-duplicate."
    )
    max_file_mb: float = Field(200.0, gt=0, description="Files larger than this are refused.")
    max_article_chars: int = Field(
        2_000_000, ge=100, description="Articles (or JSONL lines) longer than this are refused."
    )
    jsonl_fields: dict[str, str] = Field(
        default_factory=dict,
        description="Map of our field names (id, url, title, source, published, authors, text) "
        "to the names used in your JSONL, e.g. {text = 'body'}.",
    )
    feeds: list[str] = Field(
        default_factory=list,
        description="RSS/Atom/JSON feed or sitemap URLs that `rag sync` reads (with any given by --feed or --feeds-file).",
    )
    fetch_timeout: float = Field(
        15.0, gt=0, le=300, description="Seconds a web page, feed or robots.txt may take to arrive."
    )
    fetch_max_mb: float = Field(10.0, gt=0, description="Web pages and feeds larger than this are refused.")
    fetch_delay: float = Field(
        1.0, ge=0, le=60, description="Seconds between two requests to the same host."
    )
    fetch_private_hosts: bool = Field(
        False,
        description="Allow fetching from loopback and private-network addresses (off: a URL given to the "
        "API cannot make the server read its own network).",
    )

    @field_validator("corpus")
    @classmethod
    def _corpus_name(cls, value: str) -> str:
        if not _CORPUS_NAME.match(value):
            raise ValueError(
                "3-63 characters of letters, digits, '.', '_' or '-', "
                "starting and ending with a letter or digit"
            )
        return value

    @field_validator("jsonl_fields")
    @classmethod
    def _known_fields(cls, value: dict[str, str]) -> dict[str, str]:
        unknown = set(value) - {"id", "url", "title", "source", "published", "authors", "text"}
        if unknown:
            raise ValueError(f"unknown article field(s) {sorted(unknown)}")
        return value

    @model_validator(mode="after")
    def _overlap_below_size(self) -> Settings:
        if self.chunk_overlap >= self.chunk_size:
            raise ValueError(
                f"chunk_overlap ({self.chunk_overlap}) must be below chunk_size ({self.chunk_size})"
            )
        return self

    @property
    def feedback_path(self) -> Path:
        """The SQLite file of answer feedback."""
        return self.feedback_db or self.data_dir / "feedback.sqlite"

    @property
    def chroma_path(self) -> Path:
        """Directory of the embedded persistent Chroma store."""
        return self.data_dir / "chroma"

    embed_variant: Literal["auto", "torch", "openvino", "onnx", "onnx-int8"] = Field(
        "auto",
        description="How the local model runs: 'auto' (the fastest installed of 'openvino' and 'onnx', "
        "else torch), 'torch', 'openvino' and 'onnx' (the same vectors as torch, within cosine 0.999), "
        "'onnx-int8' (int8: a different embedding, so a corpus embedded with it refuses the others). "
        "Their models are built on first use under data_dir/models.",
    )


def load_settings(config: Path | str | None = None, **overrides: Any) -> Settings:
    """Build the settings from overrides, environment, and a TOML file.

    The TOML file is ``config`` if given, else ``$RAG_CONFIG``, else ``./rag.toml``
    when it exists. Overrides whose value is ``None`` are ignored, so CLI flags
    that were not given fall through to the other sources.
    """
    path = config or os.environ.get("RAG_CONFIG")
    if path is None and Path("rag.toml").is_file():
        path = "rag.toml"
    if path is not None and not Path(path).is_file():
        raise ConfigError(f"Config file {path} not found: fix --config or RAG_CONFIG")
    toml_file = path

    class _Loaded(Settings):
        @classmethod
        def settings_customise_sources(
            cls,
            settings_cls: type[BaseSettings],
            init_settings: PydanticBaseSettingsSource,
            env_settings: PydanticBaseSettingsSource,
            dotenv_settings: PydanticBaseSettingsSource,
            file_secret_settings: PydanticBaseSettingsSource,
        ) -> tuple[PydanticBaseSettingsSource, ...]:
            if toml_file is None:
                return (init_settings, env_settings)
            return (
                init_settings,
                env_settings,
                TomlConfigSettingsSource(settings_cls, toml_file=toml_file),
            )

    try:
        return _Loaded(**{k: v for k, v in overrides.items() if v is not None})
    except ValidationError as exc:
        raise ConfigError(_describe(exc, path)) from exc


def _describe(exc: ValidationError, path: Path | str | None) -> str:
    """One line per bad setting, naming the key, the problem and where it came from."""
    lines = []
    for err in exc.errors():
        key = ".".join(str(p) for p in err["loc"]) or "settings"
        if err["type"] == "extra_forbidden":
            lines.append(f"Unknown setting '{key}' (in {path or 'the environment'})")
        else:
            lines.append(f"Setting '{key}': {err['msg']} (got {err.get('input')!r})")
    return "; ".join(lines)


def _default_text(name: str) -> str:
    if name == "data_dir":
        return "~/.local/share/rag"  # the default is the user's own; README shows where it is
    field = Settings.model_fields[name]
    value = field.default_factory() if field.default_factory else field.default  # type: ignore[call-arg]
    if value is None:
        return "unset"
    if isinstance(value, bool):
        return "true" if value else "false"
    if value == "":
        return "''"
    return str(value)


def settings_table() -> str:
    """README's settings table, one row per field of :class:`Settings` (written into README
    by cog: ``cog -r README.md``; a test checks README matches)."""
    rows = ["| setting | environment | default | meaning |", "|---|---|---|---|"]
    for name, field in Settings.model_fields.items():
        meaning = (field.description or "").replace("|", "\\|").replace("\n", " ")
        rows.append(f"| `{name}` | `RAG_{name.upper()}` | `{_default_text(name)}` | {meaning} |")
    return "\n".join(rows) + "\n"
