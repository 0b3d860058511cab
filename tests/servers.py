"""Live servers for the tests that meet the product as a user does: the CLI in a
subprocess, `rag serve` on a free loopback port, and a small news site (feed and
article pages) on loopback for fetching."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import threading
import time
from email.utils import formatdate
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx

from tests.helpers import free_port


def rag_cli(data: Path, *args: str, env: dict[str, str] | None = None, **kw: object) -> subprocess.Popen[bytes]:
    """``rag --data-dir DATA --corpus apitest ARGS`` in a subprocess, with no RAG_* from the caller's shell."""
    base = [sys.executable, "-m", "ui.cli", "--data-dir", str(data), "--corpus", "apitest"]
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("RAG_")} | {"HF_HUB_OFFLINE": "1"} | (env or {})
    return subprocess.Popen(base + list(args), env=full_env, **kw)  # type: ignore[call-overload]


def serve(data: Path, log: Path, env: dict[str, str] | None = None) -> tuple[subprocess.Popen[bytes], str]:
    """Start ``rag serve`` on a free port; returns the process and its base URL once it answers."""
    port = free_port()
    proc = rag_cli(data, "serve", "--port", str(port), env=env, stdout=log.open("w"), stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        assert proc.poll() is None, log.read_text()
        try:
            httpx.get(f"{url}/openapi.json", timeout=1)
            return proc, url
        except httpx.HTTPError:
            time.sleep(0.3)
    raise RuntimeError("server did not start")


def _page(title: str, body: str, day: str = "2026-03-02") -> str:
    paragraphs = "".join(f"<p>{p}</p>" for p in body.split("\n"))
    return (f"<html><head><title>{title}</title><meta property='article:published_time' content='{day}'>"
            f"</head><body><nav>Home | World | Sport</nav><article><h1>{title}</h1>{paragraphs}</article>"
            "<footer>Copyright Loopback News</footer></body></html>")


class NewsSite:
    """A small news site: a feed, articles, and every way a page can fail."""

    def __init__(self) -> None:
        self.requests: list[tuple[str, dict[str, str]]] = []
        self.two = ("The council approved the river bridge budget of 40 million euros on Monday.\n"
                    "Work on the bridge starts in May, the mayor said, and takes two years.")
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.server.handle_error = lambda *_: None  # type: ignore[method-assign]  # clients that time out
        self.base = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def pages(self) -> dict[str, tuple[str, str]]:
        one = ("Firefighters contained the wildfire north of Lakeside after three days, officials said.\n"
               "About 1,200 residents returned home on Sunday evening as the evacuation order was lifted.")
        three = ("The museum of maritime history reopened after a two-year renovation.\n"
                 "Its new wing shows the harbour's trade with 40 ships' models, the director said.")
        links = ["/a/one.html", "/a/two.html", "/a/slow.html", "/a/missing.html", "/a/image.png",
                 "/a/huge.html", "/a/moved.html", "/private/secret.html"]
        items = "".join(f"<item><title>{p}</title><link>{self.base}{p}</link></item>" for p in links)
        # The feed changes when an article does (its digest stands for lastBuildDate).
        build = hashlib.sha1(self.two.encode()).hexdigest()[:8]
        feed = (f"<?xml version='1.0'?><rss version='2.0'><channel><title>Loopback News</title>"
                f"<link>{self.base}/</link><description>build {build}</description>{items}</channel></rss>")
        public = "http://news.example"  # the name the sitemaps use (see test_web's transport)
        urlset = ("<?xml version='1.0'?><urlset xmlns='http://www.sitemaps.org/schemas/sitemap/0.9'>"
                  + "".join(f"<url><loc>{public}{p}</loc></url>" for p in ("/a/one.html", "/a/three.html"))
                  + "</urlset>")
        index = ("<?xml version='1.0'?><sitemapindex xmlns='http://www.sitemaps.org/schemas/sitemap/0.9'>"
                 f"<sitemap><loc>{public}/sitemap-news.xml</loc></sitemap></sitemapindex>")
        return {
            "/sitemap_index.xml": ("application/xml", index),
            "/sitemap-news.xml": ("application/xml", urlset),
            "/robots.txt": ("text/plain", "User-agent: *\nDisallow: /private/\n"),
            "/feed.xml": ("application/rss+xml", feed),
            "/a/one.html": ("text/html; charset=utf-8", _page("Wildfire contained", one)),
            "/a/two.html": ("text/html; charset=utf-8", _page("Bridge budget approved", self.two)),
            "/a/three.html": ("text/html; charset=utf-8", _page("Maritime museum reopens", three)),
            "/a/image.png": ("image/png", "\x89PNG not really"),
            "/a/huge.html": ("text/html", _page("Huge", "word " * 300_000)),
            "/private/secret.html": ("text/html", _page("Secret", "Nothing to see here at all, really.")),
        }

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        site = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802  (http.server's name)
                site.requests.append((self.path, dict(self.headers)))
                if self.path == "/a/slow.html":
                    time.sleep(3)
                if self.path == "/a/moved.html":
                    self.send_response(302)
                    self.send_header("Location", "/a/three.html")
                    self.end_headers()
                    return
                found = site.pages().get(self.path)
                if found is None:
                    self.send_error(404)
                    return
                kind, text = found
                body = text.encode("utf-8", "surrogateescape")
                etag = '"' + hashlib.sha1(body).hexdigest()[:16] + '"'
                if self.headers.get("If-None-Match") == etag:
                    self.send_response(304)
                    self.end_headers()
                    return
                self.send_response(200)
                self.send_header("Content-Type", kind)
                self.send_header("ETag", etag)
                self.send_header("Last-Modified", formatdate(usegmt=True))
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                pass

        return Handler
