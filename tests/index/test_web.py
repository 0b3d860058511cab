"""Articles from the web, against a real HTTP server on loopback: a feed's articles
ingested, a second sync fetching and embedding nothing, a changed article re-synced;
one clear error per failing page (slow, 404, not HTML, huge, forbidden by robots.txt),
redirects followed, private addresses refused by default; the CLI's `ingest URL` and
`sync`."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from click.testing import CliRunner

from index.web import Fetcher, ingest_web
from rag.settings import Settings, load_settings
from rag.store import ChunkStore
from tests.servers import NewsSite
from ui.cli import cli


@pytest.fixture
def site() -> Iterator[NewsSite]:
    s = NewsSite()
    yield s
    s.server.shutdown()


@pytest.fixture
def web_settings(settings: Settings) -> Settings:
    return load_settings(data_dir=settings.data_dir, corpus="webtest", embed_backend="hashing",
                         fetch_private_hosts=True, fetch_delay=0, fetch_timeout=1, fetch_max_mb=1)


def _errors(report: object) -> dict[str, str]:
    return {e.path.rsplit("/", 1)[-1]: e.message for e in report.errors}  # type: ignore[attr-defined]


def test_a_feed_synced_twice_then_a_changed_article(site: NewsSite, web_settings: Settings) -> None:
    feed = f"{site.base}/feed.xml"
    fetched, ingested = ingest_web(web_settings, feeds=[feed])
    assert fetched.feeds == 1 and fetched.pages == 3
    assert ingested.added == 3 and ingested.chunks_written > 0
    errors = _errors(fetched)
    assert "fetch_timeout" in errors["slow.html"]
    assert errors["missing.html"].startswith("HTTP 404")
    assert "image/png" in errors["image.png"]
    assert "fetch_max_mb" in errors["huge.html"]
    assert "robots.txt" in errors["secret.html"]
    assert not any(path.startswith("/private/") for path, _ in site.requests)
    assert all(h.get("User-Agent", "").startswith("newsrag/") for _, h in site.requests)
    urls = {m["url"] for _, m, _ in ChunkStore(web_settings).dump().values()}
    # The redirect was followed, and the article is kept under the page it landed on.
    assert urls == {f"{site.base}/a/one.html", f"{site.base}/a/two.html", f"{site.base}/a/three.html"}

    # Nothing changed: the feed answers 304 and nothing is fetched or embedded.
    site.requests.clear()
    fetched, ingested = ingest_web(web_settings, feeds=[feed])
    assert fetched.feeds_unchanged == 1 and fetched.pages == 0 and ingested.chunks_written == 0
    assert [p for p, _ in site.requests] == ["/robots.txt", "/feed.xml"]
    assert "If-None-Match" in site.requests[1][1]

    # One article changes (and with it the feed): only that one is fetched whole and replaced.
    site.two = site.two.replace("40 million", "55 million")
    fetched, ingested = ingest_web(web_settings, feeds=[feed])
    assert fetched.feeds == 1 and fetched.pages == 1 and fetched.pages_unchanged == 2
    assert ingested.updated == 1 and ingested.added == 0
    texts = " ".join(t for t, _, _ in ChunkStore(web_settings).dump().values())
    assert "55 million" in texts and "40 million" not in texts


class _ToSite(httpx.HTTPTransport):
    """Sends every request to the loopback site, whatever host it names (news.example here),
    and hands the response back as the named host's."""

    def __init__(self, port: int) -> None:
        super().__init__()
        self.port = port

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        routed = httpx.Request(request.method, request.url.copy_with(scheme="http", host="127.0.0.1", port=self.port),
                               headers=request.headers, content=request.content)
        response = super().handle_request(routed)
        response.request = request
        return response


def test_a_sitemap_index_is_followed_to_its_articles(site: NewsSite, web_settings: Settings) -> None:
    port = int(site.base.rsplit(":", 1)[1])
    client = httpx.Client(transport=_ToSite(port), follow_redirects=False, timeout=1,
                          headers={"User-Agent": "newsrag-test"})
    fetched, ingested = ingest_web(web_settings, feeds=["http://news.example/sitemap_index.xml"],
                                   fetcher=Fetcher(web_settings, client=client))
    assert fetched.errors == [] and fetched.feeds == 1 and fetched.pages == 2
    assert ingested.added == 2
    urls = {m["url"] for _, m, _ in ChunkStore(web_settings).dump().values()}
    assert urls == {"http://news.example/a/one.html", "http://news.example/a/three.html"}


def test_private_addresses_are_refused_by_default(site: NewsSite, settings: Settings) -> None:
    fetched, ingested = ingest_web(settings, urls=[f"{site.base}/a/one.html"])
    assert ingested.added == 0 and site.requests == []
    assert "private or loopback" in fetched.errors[0].message and site.base in str(fetched.errors[0])


def test_robots_txt_that_cannot_be_read_forbids(web_settings: Settings, tmp_path: Path) -> None:
    fetcher = Fetcher(web_settings)
    # Nothing listens on this port: robots.txt cannot be read, so nothing is fetched.
    assert not fetcher._allowed_by_robots("http://127.0.0.1:9/a.html")


def test_cli_ingests_a_url_and_syncs_a_feed_file(site: NewsSite, tmp_path: Path, hashing: object) -> None:
    runner = CliRunner()
    env = {"RAG_EMBED_BACKEND": "hashing", "RAG_FETCH_PRIVATE_HOSTS": "true", "RAG_FETCH_DELAY": "0",
           "RAG_FETCH_TIMEOUT": "1", "RAG_FETCH_MAX_MB": "1"}
    base = ["--data-dir", str(tmp_path / "data"), "--corpus", "webcli"]
    res = runner.invoke(cli, [*base, "ingest", f"{site.base}/a/one.html"], env=env)
    assert res.exit_code == 0, res.output
    assert "Fetched 0 feeds (0 unchanged) and 1 pages" in res.output and "1 added" in res.output

    feeds = tmp_path / "feeds.txt"
    feeds.write_text(f"# our loopback site\n{site.base}/feed.xml\n")
    res = runner.invoke(cli, [*base, "sync", "--feeds-file", str(feeds)], env=env)
    assert res.exit_code == 1  # the failing pages are reported, the rest stored
    assert "and 2 pages (1 unchanged)" in res.output and "2 added, 0 updated, 0 unchanged" in res.output
    assert f"{site.base}/a/missing.html: HTTP 404" in res.output
    res = runner.invoke(cli, [*base, "sync", "--feeds-file", str(feeds)], env=env)
    assert res.exit_code == 0 and "Fetched 0 feeds (1 unchanged) and 0 pages" in res.output
    bad = runner.invoke(cli, [*base, "sync", "--feeds-file", str(feeds), "--every", "1s"], env=env)
    assert bad.exit_code == 2 and "not polite" in bad.output
