"""Articles from the web: pages by URL and the articles RSS/Atom feeds link to, fetched politely.

Extraction (main text, title, date, authors, site), feed and sitemap reading are trafilatura's
(``bare_extraction``; ``feeds.find_links``, which reads RSS, Atom and JSON feeds;
``sitemaps.SitemapObject``, which reads sitemaps and sitemap indexes);
the requests are httpx's, because polite fetching needs what trafilatura's downloader
does not offer: conditional requests (``If-None-Match`` / ``If-Modified-Since`` with the
``ETag`` and ``Last-Modified`` a server sent last time), a per-host delay, robots.txt
(the standard library's parser) and a size limit enforced while reading.

Every failure is one :class:`InputError` naming the URL; the caller reports it and goes
on. Addresses on loopback or private networks are refused unless
``fetch_private_hosts`` is set: the API accepts URLs, and must not become a way to read
the server's own network (redirects are checked hop by hop for the same reason).

What was fetched (its validators) is kept in ``data_dir/web.sqlite``, so a
``rag sync`` run after an unchanged one fetches feeds and pages with 304s and embeds
nothing; a changed page is re-extracted and, being keyed by its URL, replaces its
previous version in the store.
"""

from __future__ import annotations

import ipaddress
import re
import socket
import sqlite3
import threading
import time
import urllib.robotparser
from collections.abc import Iterator, Sequence
from contextlib import closing
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urljoin, urlsplit

import httpx

from index.load import LoadItem, document_from_html
from rag.errors import InputError
from rag.settings import Settings

if TYPE_CHECKING:
    from index.ingest import IngestReport

_HTML_TYPES = ("text/html", "application/xhtml+xml")
_FEED_MARKERS = ("xml", "rss", "atom", "json")
_MAX_REDIRECTS = 5
_MAX_SITEMAPS = 20
_SITEMAP = re.compile(r"<(urlset|sitemapindex)\b")


def user_agent() -> str:
    """The User-Agent every request carries: the project, its version and what it is."""
    try:
        version = metadata.version("newsrag")
    except metadata.PackageNotFoundError:
        version = "dev"
    return f"newsrag/{version} (news question answering; fetches articles and feeds it is given)"


def is_url(value: str) -> bool:
    """Is ``value`` an http(s) URL rather than a path?"""
    return value.startswith(("http://", "https://"))


@dataclass
class Page:
    """A fetched response: the final URL (after redirects), its text and validators."""

    url: str
    text: str
    content_type: str
    etag: str | None = None
    last_modified: str | None = None


@dataclass
class SyncReport:
    """What a sync fetched: counts and the URLs that failed, one error each."""

    feeds: int = 0
    feeds_unchanged: int = 0
    pages: int = 0
    pages_unchanged: int = 0
    errors: list[InputError] = field(default_factory=list)


class Fetcher:
    """Polite HTTP for one process: a user agent naming the project, a timeout, a size
    limit, a delay between requests to one host, robots.txt, conditional requests."""

    def __init__(self, settings: Settings, *, client: httpx.Client | None = None) -> None:
        """``client`` is for tests; by default one is made from the settings."""
        self.settings = settings
        self.client = client or httpx.Client(
            timeout=settings.fetch_timeout, follow_redirects=False, headers={"User-Agent": user_agent()}
        )
        self.state = FetchState(settings.data_dir / "web.sqlite")
        self._robots: dict[str, urllib.robotparser.RobotFileParser] = {}
        self._last: dict[str, float] = {}
        self._lock = threading.Lock()

    def close(self) -> None:
        """Close the HTTP connections."""
        self.client.close()

    def fetch(self, url: str, *, accept: tuple[str, ...], conditional: bool = True) -> Page | None:
        """The page at ``url``, or None if it has not changed since the last fetch.

        Raises :class:`InputError` naming the URL for anything else: refused address,
        robots.txt, timeout, HTTP error, wrong content type, too large.
        """
        if not is_url(url):
            raise InputError(url, "not an http(s) URL")
        self._check_address(url)  # before robots.txt, whose fetch would be refused for the same reason
        if not self._allowed_by_robots(url):
            raise InputError(url, "robots.txt does not allow fetching this page")
        headers = self.state.validators(url) if conditional else {}
        response = self._get(url, headers)
        if response.status_code == 304:
            return None
        content_type = response.headers.get("content-type", "").split(";")[0].strip().lower()
        if not any(marker in content_type for marker in accept):
            raise InputError(url, f"not {'/'.join(accept)} but '{content_type or 'no content type'}'")
        text = response.text
        return Page(str(response.url), text, content_type,
                    response.headers.get("etag"), response.headers.get("last-modified"))

    def _get(self, url: str, headers: dict[str, str]) -> httpx.Response:
        limit = int(self.settings.fetch_max_mb * 2**20)
        for _ in range(_MAX_REDIRECTS + 1):
            self._check_address(url)
            self._wait_turn(url)
            try:
                with self.client.stream("GET", url, headers=headers) as response:
                    if response.is_redirect and "location" in response.headers:
                        url = urljoin(url, response.headers["location"])
                        continue
                    if response.status_code >= 400:
                        raise InputError(url, f"HTTP {response.status_code} {response.reason_phrase}")
                    declared = int(response.headers.get("content-length") or 0)
                    if declared > limit:
                        raise InputError(url, f"{declared / 2**20:.1f} MB, above fetch_max_mb={self.settings.fetch_max_mb}")
                    body = bytearray()
                    for piece in response.iter_bytes():
                        body += piece
                        if len(body) > limit:
                            raise InputError(url, f"more than fetch_max_mb={self.settings.fetch_max_mb} MB")
                    return httpx.Response(response.status_code, headers=response.headers, content=bytes(body),
                                          request=response.request)
            except httpx.TimeoutException:
                raise InputError(url, f"no answer within fetch_timeout={self.settings.fetch_timeout} s") from None
            except httpx.HTTPError as exc:
                raise InputError(url, f"cannot fetch ({type(exc).__name__}: {exc})") from None
        raise InputError(url, f"more than {_MAX_REDIRECTS} redirects")

    def _check_address(self, url: str) -> None:
        if self.settings.fetch_private_hosts:
            return
        host = urlsplit(url).hostname or ""
        try:
            addresses = {info[4][0] for info in socket.getaddrinfo(host, None)}
        except socket.gaierror as exc:
            raise InputError(url, f"cannot resolve host '{host}' ({exc.strerror})") from None
        for address in addresses:
            ip = ipaddress.ip_address(address.split("%")[0])
            if not ip.is_global:
                raise InputError(
                    url, f"refused: '{host}' is a private or loopback address (set fetch_private_hosts to allow)"
                )

    def _wait_turn(self, url: str) -> None:
        host = urlsplit(url).netloc
        with self._lock:  # reserve this host's next slot; sleep outside, so other hosts go on
            now = time.monotonic()
            slot = max(now, self._last.get(host, 0.0) + self.settings.fetch_delay)
            self._last[host] = slot
        time.sleep(slot - now)

    def _allowed_by_robots(self, url: str) -> bool:
        parts = urlsplit(url)
        root = f"{parts.scheme}://{parts.netloc}"
        parser = self._robots.get(root)
        if parser is None:
            parser = urllib.robotparser.RobotFileParser()
            try:
                response = self._get(f"{root}/robots.txt", {})
                parser.parse(response.text.splitlines())
            except InputError as err:
                # No robots.txt (404) allows everything; one that cannot be read
                # (5xx, timeout) disallows, as Google and the RFC treat it.
                parser.parse([] if "HTTP 4" in err.message else ["User-agent: *", "Disallow: /"])
            self._robots[root] = parser
        return parser.can_fetch(user_agent(), url)


class FetchState:
    """Validators of fetched URLs (ETag, Last-Modified), in SQLite beside the store."""

    def __init__(self, path: Path) -> None:
        """``path`` is the SQLite file, created on first use."""
        self.path = path

    def _connect(self) -> sqlite3.Connection:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        db = sqlite3.connect(self.path, timeout=30)
        db.execute(
            "CREATE TABLE IF NOT EXISTS fetched(url TEXT PRIMARY KEY, etag TEXT, last_modified TEXT, fetched_at REAL)"
        )
        return db

    def validators(self, url: str) -> dict[str, str]:
        """Conditional request headers for ``url`` from its last fetch."""
        with closing(self._connect()) as db:
            row = db.execute("SELECT etag, last_modified FROM fetched WHERE url = ?", (url,)).fetchone()
        headers = {}
        if row and row[0]:
            headers["If-None-Match"] = row[0]
        if row and row[1]:
            headers["If-Modified-Since"] = row[1]
        return headers

    def record(self, url: str, page: Page) -> None:
        """Remember ``page``'s validators (only once its article is stored, so a failed
        ingest fetches it again next time)."""
        with closing(self._connect()) as db, db:
            db.execute("INSERT OR REPLACE INTO fetched VALUES (?, ?, ?, ?)",
                       (url, page.etag, page.last_modified, time.time()))


class WebSource:
    """Pages and feeds fetched for one ingest. The validators of what it fetched are
    recorded only when :meth:`stored` is called, after the ingest: a run that fails
    fetches the same pages again next time instead of taking them as unchanged."""

    def __init__(self, fetcher: Fetcher, report: SyncReport) -> None:
        """Count into ``report``."""
        self.fetcher = fetcher
        self.report = report
        self._fetched: list[tuple[str, Page]] = []

    def articles(self, urls: list[str], *, conditional: bool = True) -> Iterator[LoadItem]:
        """The article of each page, or its error; pages unchanged since the last fetch are
        counted and skipped (``conditional=False`` fetches them anyway)."""
        for url in dict.fromkeys(urls):
            try:
                page = self.fetcher.fetch(url, accept=_HTML_TYPES, conditional=conditional)
                if page is None:
                    self.report.pages_unchanged += 1
                    continue
                self.report.pages += 1
                doc = document_from_html(page.text, origin=url, url=page.url, settings=self.fetcher.settings)
            except InputError as err:
                self.report.errors.append(err)
                yield err
                continue
            self._fetched.append((url, page))
            yield doc

    def links(self, feed_url: str) -> list[str]:
        """The article URLs a feed lists ([] when it has not changed since the last sync)."""
        from trafilatura.feeds import FeedParameters, find_links

        try:
            page = self.fetcher.fetch(feed_url, accept=_FEED_MARKERS)
        except InputError as err:
            self.report.errors.append(err)
            return []
        if page is None:
            self.report.feeds_unchanged += 1
            return []
        self.report.feeds += 1
        self._fetched.append((feed_url, page))
        if _SITEMAP.search(page.text[:2000]):
            links = self._sitemap_links(page)
        else:
            parts = urlsplit(page.url)
            params = FeedParameters(f"{parts.scheme}://{parts.netloc}", parts.netloc, page.url, external=True)
            # find_links reads RSS, Atom and JSON feeds; extract_links would also pass every
            # link through courlan's filter, which drops hosts given as IP addresses.
            found = find_links(page.text.strip(), params)
            links = [u for u in dict.fromkeys(found) if is_url(u) and u != page.url and urlsplit(u).path.strip("/")]
        if not links:
            self.report.errors.append(
                InputError(feed_url, "no article links found: not an RSS, Atom or JSON feed, or a sitemap?"))
        return links

    def _sitemap_links(self, page: Page) -> list[str]:
        """The pages a sitemap lists, following a sitemap index to its sitemaps (trafilatura's
        parser; at most ``_MAX_SITEMAPS`` files per feed)."""
        from trafilatura.sitemaps import SitemapObject

        parts = urlsplit(page.url)
        sitemap = SitemapObject(f"{parts.scheme}://{parts.netloc}", parts.netloc, [], external=True)
        sitemap.current_url, sitemap.content = page.url, page.text
        sitemap.process()
        for _ in range(_MAX_SITEMAPS):
            pending = [u for u in dict.fromkeys(sitemap.sitemap_urls) if u not in sitemap.seen and u != page.url]
            if not pending:
                break
            sitemap.current_url = pending[0]
            sitemap.seen.add(pending[0])
            try:
                child = self.fetcher.fetch(pending[0], accept=_FEED_MARKERS, conditional=False)
            except InputError as err:
                self.report.errors.append(err)
                continue
            if child is not None:
                sitemap.content = child.text
                sitemap.process()
        return list(dict.fromkeys(sitemap.urls))

    def stored(self) -> None:
        """Record the validators of everything fetched: its articles are in the store now."""
        for url, page in self._fetched:
            self.fetcher.state.record(url, page)
        self._fetched.clear()


def ingest_web(
    settings: Settings,
    *,
    urls: Sequence[str] = (),
    feeds: Sequence[str] = (),
    fetcher: Fetcher | None = None,
    **ingest_options: Any,
) -> tuple[SyncReport, IngestReport]:
    """Fetch ``urls`` (always, as asked for by name) and the articles of ``feeds`` (only
    those changed since the last sync) and ingest them; returns what was fetched and
    what the ingest did. ``ingest_options`` go to :func:`index.ingest.ingest_items`."""
    from index.ingest import ingest_items

    own = fetcher is None
    fetcher = fetcher or Fetcher(settings)
    report = SyncReport()
    source = WebSource(fetcher, report)
    try:
        def items() -> Iterator[LoadItem]:
            yield from source.articles(list(urls), conditional=False)
            for feed in dict.fromkeys(feeds):
                yield from source.articles(source.links(feed))

        ingested = ingest_items(_without_errors(items()), settings, **ingest_options)
        source.stored()
    finally:
        if own:
            fetcher.close()
    return report, ingested


def _without_errors(items: Iterator[LoadItem]) -> Iterator[LoadItem]:
    # Fetch errors are in the sync report already; the ingest report keeps its own.
    return (item for item in items if not isinstance(item, InputError))
