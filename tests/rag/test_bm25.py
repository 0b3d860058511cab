"""The incremental keyword index: BM25 scores as bm25s computes them, changes read from
the keyword log without a rebuild, a log out of step rebuilt in the background while the
old index answers, snapshots for cold starts, and a corrupt snapshot ignored."""

from __future__ import annotations

import random
from pathlib import Path

import bm25s
import pytest

from index.ingest import ingest
from rag import bm25 as bm25_module
from rag import keywords
from rag.bm25 import BM25Index, _Postings
from rag.keywords import KeywordLog, KeywordRow, tokenize
from rag.settings import Settings, load_settings
from rag.store import ChunkStore
from tests.helpers import write_jsonl

WORDS = ("flood river valley shelter mayor election vote senate court ruling storm coast "
         "rocket launch museum opening budget tax school strike rail union").split()


def _article(i: int, text: str) -> dict[str, str]:
    return {"id": f"a{i}", "url": f"https://k.example/{i}", "title": f"Article {i}", "source": "k.example",
            "published": "2026-01-10", "text": text}


@pytest.fixture
def corpus(tmp_path: Path, settings: Settings) -> Settings:
    s = load_settings(data_dir=settings.data_dir, corpus="kws", embed_backend="hashing")
    rng = random.Random(7)
    texts = [" ".join(rng.choice(WORDS) for _ in range(30)) + "." for _ in range(12)]
    ingest([write_jsonl(tmp_path / "a.jsonl", [_article(i, t) for i, t in enumerate(texts)])], s)
    return s


def test_scores_are_bm25s_lucene_scores() -> None:
    rng = random.Random(3)
    texts = [" ".join(rng.choice(WORDS) for _ in range(rng.randint(5, 40))) for _ in range(60)]
    reference = bm25s.BM25()
    reference.index(bm25s.tokenize(texts, stopwords="en", stemmer=keywords._STEMMER, show_progress=False),
                    show_progress=False)
    index = _Postings("g")
    index.add([(i + 1, f"c{i}", 0, "", " ".join(t)) for i, t in enumerate(tokenize(texts))])
    for query in ("flood river", "election senate court", "rocket launch museum budget"):
        docs, scores = reference.retrieve(
            bm25s.tokenize([query], stopwords="en", stemmer=keywords._STEMMER, return_ids=False,
                           show_progress=False), k=10, show_progress=False)
        ours = index.search(tokenize([query])[0], 10, None)
        assert [s for _, s in ours] == pytest.approx([float(s) for s in scores[0]], rel=1e-4)
        assert {cid for cid, _ in ours} >= {f"c{int(d)}" for d, s in zip(docs[0], scores[0]) if s > scores[0][-1]}


def test_removed_rows_leave_the_statistics_and_compact() -> None:
    index = _Postings("g")
    index.add([(i + 1, f"c{i}", 0, "", "storm coast" if i < 8 else "storm") for i in range(10)])
    before = dict(index.search(["coast"], 10, None))
    index.remove([1, 2, 3])  # 3 of 10 dead: compacted
    assert len(index.ids) == 7 and index.alive.all()
    after = dict(index.search(["coast"], 10, None))
    assert set(after) == {f"c{i}" for i in range(3, 8)}
    # Fewer documents hold "coast" among fewer documents: its idf changes with them.
    assert after["c3"] != pytest.approx(before["c3"])


def test_a_new_article_is_read_from_the_log_without_a_rebuild(
    tmp_path: Path, corpus: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    index = BM25Index(ChunkStore(corpus))
    assert index.search("zeppelin", 5) == []
    generation = index.log.state().generation

    def no_rebuild(*_: object) -> None:
        raise AssertionError("rebuilt the keyword log")

    monkeypatch.setattr(BM25Index, "_rebuild", no_rebuild)
    ingest([write_jsonl(tmp_path / "b.jsonl", [_article(99, "A zeppelin museum opened by the lake.")])], corpus)
    hits = index.search("zeppelin museum", 5)
    assert hits and ChunkStore(corpus).fetch([hits[0][0]])[hits[0][0]].metadata["article_id"] == "a99"
    assert index.log.state().generation == generation

    # Deleting it takes it out at once, again from the log.
    ChunkStore(corpus).delete_articles({"article_id": "a99"})
    assert index.search("zeppelin", 5) == []


def test_a_log_out_of_step_is_rebuilt_while_the_old_index_answers(
    tmp_path: Path, corpus: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    index = BM25Index(ChunkStore(corpus))
    old = index.search("flood river", 5)
    # A replica with its own data dir writes the same Chroma store: our log never hears of it.
    replica = load_settings(data_dir=tmp_path / "replica", corpus="kws", embed_backend="hashing")
    ingest([write_jsonl(tmp_path / "c.jsonl", [_article(98, "A zeppelin museum opened by the lake.")])], replica,
           store=ChunkStore(replica, client=index.store.client))
    assert KeywordLog(corpus.data_dir / "bm25" / "kws.sqlite").state().version != ChunkStore(corpus).version()

    monkeypatch.setattr(bm25_module, "STALE_AFTER_S", 0.0)
    assert index.search("flood river", 5) == old  # answered at once, from the index it had
    index.wait(60)
    hits = index.search("zeppelin museum", 5)
    assert hits and ChunkStore(corpus).fetch([hits[0][0]])[hits[0][0]].metadata["article_id"] == "a98"


def test_a_cold_start_loads_the_snapshot_and_ignores_a_corrupt_one(
    tmp_path: Path, corpus: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(bm25_module, "_SNAPSHOT_EVERY", 1)
    first = BM25Index(ChunkStore(corpus))
    hits = first.search("election vote", 5)
    assert first.snapshot_path.exists()

    cold = BM25Index(ChunkStore(corpus))
    monkeypatch.setattr(KeywordLog, "changes", lambda *_: pytest.fail("read the log despite a current snapshot"))
    assert cold.search("election vote", 5) == hits
    monkeypatch.undo()

    whole = first.snapshot_path.read_bytes()
    for broken in (b"not a snapshot", whole[: len(whole) // 2]):  # garbage, and a file cut short
        first.snapshot_path.write_bytes(broken)
        again = BM25Index(ChunkStore(corpus))
        assert again.search("election vote", 5) == hits


def test_rows_carry_day_and_source_for_filters(tmp_path: Path) -> None:
    log = KeywordLog(tmp_path / "k.sqlite")
    log.apply([KeywordRow("x:0", "Storm hits the coast", 738000, "a.example")], [], expected="0", version="v1")
    added, gone, state = log.changes(0, 0)
    assert state.version == "v1" and gone == []
    assert added[0][1:4] == ("x:0", 738000, "a.example") and added[0][4] == "storm hit coast"
    # A write the log was not in step with leaves it unstamped, for a searcher to rebuild.
    log.apply([KeywordRow("y:0", "Rail strike", 0, "")], [], expected="elsewhere", version="v2")
    assert log.state().version == "v1"
    assert [r[1] for r in log.changes(0, 0)[0]] == ["x:0", "y:0"]


def test_a_corrupt_keyword_log_is_set_aside_and_rebuilt(corpus: Settings) -> None:
    index = BM25Index(ChunkStore(corpus))
    hits = index.search("storm coast", 5)
    log_path = index.log.path
    log_path.write_bytes(b"this is not a database" * 100)
    for extra in ("-wal", "-shm"):
        Path(f"{log_path}{extra}").unlink(missing_ok=True)
    index.snapshot_path.unlink(missing_ok=True)
    fresh = BM25Index(ChunkStore(corpus))
    assert fresh.search("storm coast", 5) == hits  # rebuilt from the store, no crash
    assert Path(f"{log_path}.corrupt").exists()


def _age_the_stamp(log: KeywordLog, seconds: float) -> None:
    import sqlite3
    import time

    with sqlite3.connect(log.path) as db:
        db.execute("UPDATE meta SET value = ? WHERE key = 'stamped_at'", (repr(time.time() - seconds),))


def test_a_write_under_way_is_not_taken_for_a_stale_log(corpus: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    # Found by the load test: a search landing between a write's first version bump and its stamp,
    # after a quiet spell, started a full rebuild of the log (10 s and +300 MB on 20k chunks).
    store = ChunkStore(corpus)
    index = BM25Index(store)
    before = index.search("flood river", 5)
    _age_the_stamp(store.keywords(), 3600)  # the last write was an hour ago
    store._begin_change()  # a writer is between its bumps: the store is a version ahead of the log
    assert store.keywords().state().version != store.version()
    assert index.search("flood river", 5) == before
    assert index._rebuilding is None
    monkeypatch.setattr(bm25_module, "STALE_AFTER_S", 0.0)  # however long the write takes...
    assert index.search("flood river", 5) == before and index._rebuilding is None  # ...it is under way
    monkeypatch.setattr(bm25_module, "WRITER_GONE_S", 0.0)  # until its writer is taken for dead
    index.search("flood river", 5)
    assert index._rebuilding is not None
    index.wait(60)
    assert index.search("flood river", 5) == before and store.keywords().state().writing_since is None


def test_a_new_version_is_given_time_before_the_log_counts_as_behind(corpus: Settings) -> None:
    # A mismatch first seen now is not stale because the log's last stamp is old.
    store = ChunkStore(corpus)
    index = BM25Index(store)
    index.search("flood river", 5)
    _age_the_stamp(store.keywords(), 3600)
    store._bump_version()  # a version the log lacks, with no writer's mark (as another replica's write)
    index.search("flood river", 5)
    assert index._rebuilding is None  # seen for the first time: wait STALE_AFTER_S
