"""The OpenVINO / ONNX Runtime embedders (rag/fast_embed.py) against the torch path, on the
real model: the same vectors within the cosine tolerance, a cache built once (also by two
processes at once), the embedder ids that keep corpora apart, and the fallback to torch when
the runtimes are missing."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from llama_index.core.base.embeddings.base import BaseEmbedding

from index.ingest import ingest
from index.load import sample_dir
from rag import fast_embed
from rag.embed import embedder_id, make_embedder
from rag.errors import BackendUnavailable, ConfigError
from rag.sentences import sentence_spans
from rag.settings import load_settings
from rag.store import ChunkStore
from tests.conftest import SHARED_DATA

# The tolerance within which a variant is the same embedding as torch (and keeps its id).
MEAN_COS, MIN_COS = 0.999, 0.995
SEED = sample_dir() / "seed-article-balochistan.txt"


def news_texts() -> list[str]:
    """Real news text: the seed article's paragraphs and sentences, and 50 texts of the
    shared corpus when it is here (whole articles, cut at 256 word pieces, and paragraphs)."""
    seed = SEED.read_text().split("\n", 1)[1]  # past the date header line
    paragraphs = [p.strip() for p in seed.splitlines() if p.strip()]
    texts = paragraphs + [seed[a:b] for a, b in sentence_spans(seed)]
    shared = SHARED_DATA / "realtimeqa-2022-small" / "articles.jsonl"
    if shared.is_file():
        with shared.open() as lines:
            for i, line in zip(range(50), lines):
                body = json.loads(line)["text"]
                texts.append(body if i % 2 else max(body.split("\n\n"), key=len))
    return texts


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, int]]:
    """A data dir with the fp32 ONNX model built in it, and the builds that took."""
    data_dir = tmp_path_factory.mktemp("fast")
    before = fast_embed.BUILDS.get("onnx", 0)
    fast_embed.load("onnx", data_dir)
    yield data_dir, fast_embed.BUILDS.get("onnx", 0) - before


@pytest.fixture(scope="module")
def torch_embedder() -> BaseEmbedding:
    """The torch path (llama-index HuggingFaceEmbedding), the reference."""
    return make_embedder(load_settings(embed_variant="torch"))


def cosines(a: list[list[float]] | np.ndarray, b: list[list[float]] | np.ndarray) -> np.ndarray:
    """Row-wise cosine of two stacks of vectors."""
    x, y = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    return (x * y).sum(axis=1) / (np.linalg.norm(x, axis=1) * np.linalg.norm(y, axis=1))


@pytest.mark.slow
@pytest.mark.parametrize("variant", ["openvino", "onnx"])
def test_fast_vectors_match_torch(variant: str, built: tuple[Path, int], torch_embedder: BaseEmbedding) -> None:
    texts = news_texts()
    assert len(texts) >= 40
    fast = make_embedder(load_settings(data_dir=built[0], embed_variant=variant))
    assert isinstance(fast, fast_embed.FastEmbedding) and fast.variant == variant and fast.max_length == 256
    ours = fast.get_text_embedding_batch(texts)
    ref = torch_embedder.get_text_embedding_batch(texts)
    cos = cosines(ours, ref)
    assert cos.mean() >= MEAN_COS and cos.min() >= MIN_COS, (cos.mean(), cos.min())
    assert np.allclose(np.linalg.norm(ours, axis=1), 1.0, atol=1e-3)
    question = "How many militants were killed in Balochistan?"
    assert cosines([fast.get_query_embedding(question)], [torch_embedder.get_query_embedding(question)])[0] >= MIN_COS


@pytest.mark.slow
def test_length_sorted_batches_keep_input_order(built: tuple[Path, int]) -> None:
    texts = news_texts()[:24]
    small = fast_embed.load("onnx", built[0], batch_size=5)
    together = small.embed(texts)
    alone = np.stack([small.embed([t])[0] for t in texts])
    assert np.allclose(together, alone, atol=1e-5)


def test_batches_share_one_padded_width_and_keep_the_size_cap() -> None:
    lengths = [3, 7, 9, 12, 15, 16, 17, 60, 5, 6]
    order = sorted(range(len(lengths)), key=lengths.__getitem__)
    batches = list(fast_embed._batches(order, lengths, 3))
    assert [i for b in batches for i in b] == order  # every text once, in length order
    for b in batches:
        assert len(b) <= 3 and len({fast_embed._padded(lengths[i]) for i in b}) == 1
    assert [fast_embed._padded(n) for n in (1, 8, 9, 60)] == [8, 8, 16, 64]


@pytest.mark.slow
def test_cache_is_built_once_and_reused(built: tuple[Path, int]) -> None:
    data_dir, builds = built
    assert builds == 1
    model = data_dir / "models" / "onnx" / fast_embed.MODEL_FILE
    mtime = model.stat().st_mtime_ns
    before = fast_embed.BUILDS["onnx"]
    fast_embed.load("onnx", data_dir)
    make_embedder(load_settings(data_dir=data_dir, embed_variant="onnx"))
    assert fast_embed.BUILDS["onnx"] == before
    assert model.stat().st_mtime_ns == mtime
    assert not list((data_dir / "models").glob(".onnx.*-*"))  # no temporary or outdated copies


BUILD_AND_EMBED = """
import json, sys
from rag import fast_embed
embedder = fast_embed.load("onnx", sys.argv[1])
print(json.dumps({"builds": fast_embed.BUILDS.get("onnx", 0),
                  "vector": embedder.get_text_embedding("Two processes, one cache.")[:8]}))
"""


@pytest.mark.slow
def test_two_processes_building_at_once_share_one_cache(tmp_path: Path) -> None:
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    procs = [
        subprocess.Popen([sys.executable, "-c", BUILD_AND_EMBED, str(tmp_path)], env=env,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for _ in range(2)
    ]
    results = []
    for proc in procs:
        out, err = proc.communicate(timeout=600)
        assert proc.returncode == 0, err[-2000:]
        results.append(json.loads(out.strip().splitlines()[-1]))
    assert sorted(r["builds"] for r in results) == [0, 1]  # one built, the other used its copy
    assert np.allclose(results[0]["vector"], results[1]["vector"])
    assert sorted(p.name for p in (tmp_path / "models").iterdir()) == [".onnx.lock", "onnx"]


def _fake_build(final: Path, manifest: dict[str, object], marker: str) -> None:
    final.mkdir(parents=True)
    (final / fast_embed.MODEL_FILE).write_text(marker)
    (final / fast_embed.MANIFEST_FILE).write_text(json.dumps(manifest))


def test_a_finished_copy_wins_and_an_outdated_one_is_replaced(tmp_path: Path) -> None:
    current = {"recipe": fast_embed.RECIPE_VERSION, "variant": "onnx", "source": "abc"}
    final = tmp_path / "onnx"
    _fake_build(final, current, "first")
    _fake_build(tmp_path / ".onnx.tmp-1", current, "second")
    fast_embed._install(tmp_path / ".onnx.tmp-1", final)  # another process finished first
    assert (final / fast_embed.MODEL_FILE).read_text() == "first"

    newer = {**current, "recipe": fast_embed.RECIPE_VERSION + 1}
    _fake_build(tmp_path / ".onnx.tmp-2", newer, "rebuilt")
    fast_embed._install(tmp_path / ".onnx.tmp-2", final)
    assert (final / fast_embed.MODEL_FILE).read_text() == "rebuilt"
    assert not list(tmp_path.glob(".onnx.old-*"))


def test_variant_ids() -> None:
    ids = {v: embedder_id(load_settings(embed_variant=v)) for v in ("auto", "torch", "onnx", "onnx-int8")}
    assert ids == {
        "auto": "local:all-MiniLM-L6-v2",
        "torch": "local:all-MiniLM-L6-v2",
        "onnx": "local:all-MiniLM-L6-v2",
        "onnx-int8": "local:all-MiniLM-L6-v2+int8",
    }
    assert embedder_id(load_settings(embed_backend="openai", embed_variant="onnx-int8")) == (
        "openai:text-embedding-3-small"
    )


def test_int8_corpus_is_refused_by_the_default_with_the_fix_named(tmp_path: Path) -> None:
    int8 = load_settings(data_dir=tmp_path, corpus="quantized", embed_variant="onnx-int8")
    ChunkStore(int8).collection(create=True, embedder=embedder_id(int8))
    default = load_settings(data_dir=tmp_path, corpus="quantized")
    with pytest.raises(ConfigError, match="embed_variant = 'onnx-int8'"):
        ChunkStore(default).collection(create=True, embedder=embedder_id(default))
    ChunkStore(default).collection(create=True, embedder=embedder_id(load_settings(embed_variant="onnx-int8")))


@pytest.mark.slow
def test_a_corpus_is_shared_by_the_same_embedding_and_refused_by_int8(built: tuple[Path, int]) -> None:
    onnx = load_settings(data_dir=built[0], corpus="fast", embed_variant="onnx")
    assert ingest([SEED], onnx).ok
    assert ChunkStore(onnx).stats().embedder == "local:all-MiniLM-L6-v2"
    for same in ("torch", "openvino", "auto"):  # the same embedding: nothing to re-embed
        again = ingest([SEED], load_settings(data_dir=built[0], corpus="fast", embed_variant=same))
        assert again.unchanged == 1 and again.chunks_written == 0
    int8 = load_settings(data_dir=built[0], corpus="fast", embed_variant="onnx-int8")
    with pytest.raises(ConfigError, match=r"embed_variant = 'auto'"):
        ingest([SEED], int8)


@pytest.mark.parametrize(("variant", "runtime"), [("onnx", "onnxruntime"), ("openvino", "openvino")])
def test_an_explicit_variant_without_its_runtime_names_the_pip_command(
    variant: str, runtime: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, runtime, None)  # `import <runtime>` now fails
    with pytest.raises(BackendUnavailable, match=f"pip install {runtime}"):
        make_embedder(load_settings(data_dir=tmp_path, embed_variant=variant))
    assert not (tmp_path / "models").exists()


@pytest.mark.slow
def test_auto_takes_onnx_without_openvino(built: tuple[Path, int], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "openvino", None)
    embedder = make_embedder(load_settings(data_dir=built[0]))
    assert isinstance(embedder, fast_embed.FastEmbedding) and embedder.variant == "onnx"


@pytest.mark.slow
def test_auto_falls_back_to_torch_without_the_runtimes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setitem(sys.modules, "onnxruntime", None)
    monkeypatch.setitem(sys.modules, "openvino", None)
    with caplog.at_level(logging.WARNING, logger="rag.embed"):
        embedder = make_embedder(load_settings(data_dir=tmp_path))
    assert type(embedder).__name__ == "HuggingFaceEmbedding"
    assert "embedding on torch" in caplog.text
    assert "pip install onnxruntime" in caplog.text and "pip install openvino" in caplog.text


def test_onnx_variants_are_for_the_bundled_model_only() -> None:
    with pytest.raises(ConfigError, match="bundled all-MiniLM-L6-v2 only"):
        make_embedder(load_settings(embed_model="/models/other", embed_variant="onnx"))


@pytest.mark.slow
def test_int8_is_the_same_model_but_another_embedding(built: tuple[Path, int]) -> None:
    texts = news_texts()
    int8 = make_embedder(load_settings(data_dir=built[0], embed_variant="onnx-int8"))
    fp32 = fast_embed.load("onnx", built[0])
    cos = cosines(int8.get_text_embedding_batch(texts), fp32.embed(texts))
    # Close (it is the same network) but outside the tolerance that would let it share
    # corpora with torch: hence its own embedder id.
    assert 0.97 <= cos.mean() < MEAN_COS, cos.mean()


def test_a_variant_that_cannot_run_is_refused_before_anything_is_recorded(tmp_path: Path) -> None:
    # The fast variants run the bundled model only: a custom model with one is refused
    # before the corpus records an embedder id that no runnable setting would match.
    bad = load_settings(data_dir=tmp_path, corpus="custom", embed_model="/models/other", embed_variant="onnx-int8")
    with pytest.raises(ConfigError, match="bundled all-MiniLM-L6-v2 only"):
        ingest(sorted(Path(sample_dir()).glob("*.txt")), bad)
    assert "custom" not in ChunkStore(load_settings(data_dir=tmp_path, corpus="custom")).corpora()
    assert embedder_id(load_settings(embed_model="/models/other")) == "local:/models/other"
