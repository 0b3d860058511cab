"""Ingest against a real Chroma persistent store: idempotency, updates, deletes,
near-duplicates, chunk metadata, bad input, and stats."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from index.ingest import ingest
from rag.errors import ConfigError
from rag.settings import Settings, load_settings
from rag.store import ChunkStore
from tests.fakes import HashingEmbedder
from tests.helpers import article, write_jsonl


@pytest.fixture
def small_settings(settings: Settings) -> Settings:
    # Small chunks so that articles have several.
    return load_settings(data_dir=settings.data_dir, corpus="test", embed_backend="hashing",
                         chunk_size=64, chunk_overlap=8)


def test_ingest_then_reingest_embeds_nothing(tmp_path: Path, small_settings: Settings, hashing: HashingEmbedder) -> None:
    src = write_jsonl(tmp_path / "a.jsonl", [article(i) for i in range(12)])
    first = ingest([src], small_settings)
    assert first.ok and first.added == 12 and first.chunks_written > 12
    embedded = hashing.texts_embedded
    store = ChunkStore(small_settings)
    before = store.dump()

    again = ingest([src], small_settings)
    assert (again.added, again.updated, again.unchanged, again.chunks_written) == (0, 0, 12, 0)
    assert hashing.texts_embedded == embedded
    assert store.dump() == before


def test_chunks_carry_metadata_and_exact_offsets(tmp_path: Path, small_settings: Settings) -> None:
    records = [article(i) for i in range(3)]
    ingest([write_jsonl(tmp_path / "a.jsonl", records)], small_settings)
    texts = {r["url"]: r["text"] for r in records}
    dump = ChunkStore(small_settings).dump()
    by_article: dict[str, list[dict[str, object]]] = {}
    for cid, (text, meta, vec) in dump.items():
        assert cid == f"{meta['document_id']}:{meta['chunk_index']}"
        for key in ("article_id", "url", "title", "source", "published", "content_hash"):
            assert meta[key], key
        assert texts[meta["url"]][meta["start_char"]:meta["end_char"]] == text
        assert 0 < meta["tokens"] <= 64
        assert len(vec) == 64
        by_article.setdefault(str(meta["document_id"]), []).append(meta)
    for metas in by_article.values():
        assert sorted(m["chunk_index"] for m in metas) == list(range(metas[0]["n_chunks"]))
        assert sum(1 for m in metas if m.get("minhash")) == 1


def test_changed_article_has_its_chunks_replaced(tmp_path: Path, small_settings: Settings) -> None:
    src = tmp_path / "a.jsonl"
    write_jsonl(src, [article(0, paragraphs=12), article(1)])
    ingest([src], small_settings)
    store = ChunkStore(small_settings)
    old_n = sum(1 for _, m, _ in store.dump().values() if m["article_id"] == "art-0")
    assert old_n > 3

    write_jsonl(src, [article(0, paragraphs=3, variant="-v2"), article(1)])
    report = ingest([src], small_settings)
    assert (report.updated, report.unchanged) == (1, 1)
    dump = store.dump()
    zero = [(t, m) for t, m, _ in dump.values() if m["article_id"] == "art-0"]
    assert zero and all("-v2" in t for t, _ in zero)
    assert sorted(m["chunk_index"] for _, m in zero) == list(range(zero[0][1]["n_chunks"]))
    assert len(zero) < old_n  # the old version's longer tail is gone
    assert len({m["content_hash"] for _, m in zero}) == 1


def test_changing_chunk_settings_rewrites_articles(tmp_path: Path, small_settings: Settings) -> None:
    src = write_jsonl(tmp_path / "a.jsonl", [article(i) for i in range(3)])
    ingest([src], small_settings)
    bigger = load_settings(data_dir=small_settings.data_dir, corpus="test", embed_backend="hashing",
                           chunk_size=128, chunk_overlap=8)
    report = ingest([src], bigger)
    assert report.updated == 3
    assert all(m["tokens"] <= 128 for _, m, _ in ChunkStore(bigger).dump().values())


def test_delete_by_id_url_and_source(tmp_path: Path, small_settings: Settings) -> None:
    records = [article(i) for i in range(6)]
    ingest([write_jsonl(tmp_path / "a.jsonl", records)], small_settings)
    store = ChunkStore(small_settings)
    assert store.delete_articles({"article_id": "art-0"})[0] == 1
    assert store.delete_articles({"url": "https://news.example.com/1"})[0] == 1
    assert store.delete_articles({"source": "other.example.org"})[0] == 2  # art-2, art-4
    left = {m["article_id"] for _, m, _ in store.dump().values()}
    assert left == {"art-3", "art-5"}
    assert store.stats().articles == 2
    # Deleted articles come back on re-ingest; the others are untouched.
    report = ingest([tmp_path / "a.jsonl"], small_settings)
    assert (report.added, report.unchanged) == (4, 2)


def test_near_duplicates_are_reported_and_optionally_skipped(tmp_path: Path, small_settings: Settings) -> None:
    base = article(0, paragraphs=10)
    dup = dict(base, id="dup", url="https://syndicated.example.net/copy",
               text="By the wire service\n\n" + str(base["text"]).replace("more details", "details", 1))
    src = write_jsonl(tmp_path / "a.jsonl", [base, article(1), dup])
    report = ingest([src], small_settings)
    assert len(report.near_duplicates) == 1
    nd = report.near_duplicates[0]
    assert nd.url == "https://syndicated.example.net/copy" and nd.similarity >= 0.8 and not nd.skipped
    assert ChunkStore(small_settings).stats().near_duplicates == 1

    skipping = load_settings(data_dir=tmp_path / "other", corpus="test", embed_backend="hashing",
                             chunk_size=64, chunk_overlap=8, skip_near_duplicates=True)
    report = ingest([src], skipping)
    assert report.added == 2 and report.near_duplicates[0].skipped
    # Against what is already stored, too.
    later = write_jsonl(tmp_path / "b.jsonl", [dict(dup, url="https://third.example/x")])
    assert ingest([later], skipping).near_duplicates[0].of_key


def test_bad_input_reports_errors_and_keeps_everything_else(tmp_path: Path, small_settings: Settings) -> None:
    ingest([write_jsonl(tmp_path / "first.jsonl", [article(i) for i in range(3)])], small_settings)
    store = ChunkStore(small_settings)
    before = store.dump()

    batch = tmp_path / "batch"
    batch.mkdir()
    write_jsonl(batch / "good.jsonl", [article(i) for i in range(3, 6)])
    (batch / "broken.jsonl").write_bytes(json.dumps(article(6)).encode() + b"\n{not json\n")
    (batch / "empty.txt").write_bytes(b"")
    (batch / "binary.txt").write_bytes(b"\x7fELF\x00\x00\x01")
    (batch / "latin1.txt").write_bytes("r\u00e9sum\u00e9".encode("latin-1"))
    report = ingest([batch], small_settings)
    assert not report.ok
    assert {(Path(e.path).name, e.line) for e in report.errors} == {
        ("broken.jsonl", 2), ("empty.txt", None), ("binary.txt", None), ("latin1.txt", 1)}
    assert report.added == 4  # 3 good + the valid first line of broken.jsonl
    after = store.dump()
    assert all(after[k] == v for k, v in before.items())
    assert store.stats().articles == 7


def test_stats(tmp_path: Path, small_settings: Settings) -> None:
    ingest([write_jsonl(tmp_path / "a.jsonl", [article(i) for i in range(4)])], small_settings)
    st = ChunkStore(small_settings).stats()
    assert st.articles == 4 and st.chunks >= 4
    assert st.sources == {"example.com": 2, "other.example.org": 2}
    assert (st.first_published, st.last_published) == ("2022-06-01", "2022-06-04")
    assert st.embedder == "hashing:"


def test_other_embedder_on_same_corpus_is_refused(tmp_path: Path, small_settings: Settings) -> None:
    src = write_jsonl(tmp_path / "a.jsonl", [article(0)])
    ingest([src], small_settings)
    other = load_settings(data_dir=small_settings.data_dir, corpus="test", embed_backend="local")
    with pytest.raises(ConfigError, match="was embedded with hashing"):
        ingest([src], other)


def test_boilerplate_is_cleaned_before_chunking(tmp_path: Path, small_settings: Settings) -> None:
    recs = [article(i) for i in range(3)]
    recs[0]["text"] = str(recs[0]["text"]) + "\n\nSign up for our daily newsletter here."
    ingest([write_jsonl(tmp_path / "a.jsonl", recs)], small_settings)
    assert not any("newsletter" in t for t, _, _ in ChunkStore(small_settings).dump().values())


def test_a_failed_write_stops_ingest_and_keeps_the_batches_before_it(
    tmp_path: Path, small_settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Batches are embedded and written behind the chunking of the next one: a failure
    # there still stops the ingest with its own error, and what was written stays whole.
    monkeypatch.setattr("index.ingest.WRITE_BATCH", 4)
    writes = []
    real_write = ChunkStore.write

    def failing_write(self: ChunkStore, nodes: list, *args: object, **kwargs: object) -> None:
        if len(writes) == 2:
            raise OSError("disk full")
        real_write(self, nodes, *args, **kwargs)
        writes.append({n.metadata["document_id"] for n in nodes})

    monkeypatch.setattr(ChunkStore, "write", failing_write)
    path = write_jsonl(tmp_path / "a.jsonl", [article(i) for i in range(8)])
    with pytest.raises(OSError, match="disk full"):
        ingest([path], small_settings)
    monkeypatch.setattr(ChunkStore, "write", real_write)
    store = ChunkStore(small_settings)
    written = set().union(*writes)
    states = store.article_states(sorted(written))
    assert written and all(states[k].complete for k in written)
    assert store.counts()[0] == len(written)  # nothing of the failed batch or after it
    # The next run completes what the failed one did not reach.
    report = ingest([path], small_settings)
    assert report.unchanged == len(written) and report.added == 8 - len(written)
