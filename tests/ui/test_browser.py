"""The chat and /embed in a real headless Chromium (Debian `chromium`, driven by Playwright),
against a live `rag serve` on the bundled sample. Screenshots are saved under
``test-artifacts/`` (or ``$RAG_TEST_ARTIFACTS``) for a person to look at."""

from __future__ import annotations

import functools
import http.server
import json
import os
import shutil
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.helpers import free_port
from tests.servers import rag_cli, serve

pytestmark = pytest.mark.slow
CHROMIUM = "/usr/bin/chromium"
ARTIFACTS = Path(os.environ.get("RAG_TEST_ARTIFACTS", Path(__file__).parents[2] / "test-artifacts"))
QUESTION = "How many more militants did Pakistan's security forces kill in Balochistan?"

playwright_api = pytest.importorskip("playwright.sync_api")
if not Path(CHROMIUM).exists():  # pragma: no cover - CI installs it (scripts/setup.sh)
    pytest.skip(f"{CHROMIUM} not installed: apt-get install chromium", allow_module_level=True)

# Records every text the answer area shows, so the test can see the draft stream in.
_WATCH = """
window.__seen = [];
new MutationObserver(() => {
  const chat = document.querySelector('#rag-chat');
  if (chat) window.__seen.push(chat.innerText);
}).observe(document, {subtree: true, childList: true, characterData: true});
"""


@pytest.fixture(scope="module")
def portal() -> Iterator[str]:
    """A page server on another origin (localhost, not 127.0.0.1) for the iframe."""
    root = ARTIFACTS / "portal"
    root.mkdir(parents=True, exist_ok=True)
    handler = functools.partial(_Quiet, directory=str(root))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", free_port()), handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield f"http://localhost:{httpd.server_address[1]}"
    httpd.shutdown()


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory, portal: str) -> Iterator[tuple[str, Path]]:
    data = tmp_path_factory.mktemp("browser")
    assert rag_cli(data, "ingest", "--sample", "--quiet").wait(timeout=300) == 0
    env = {"RAG_FRAME_ANCESTORS": json.dumps([portal]), "RAG_FEEDBACK_DB": str(data / "fb.sqlite")}
    proc, url = serve(data, data / "serve.log", env)
    try:
        yield url, data
    finally:
        proc.terminate()
        proc.wait(timeout=30)


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    with playwright_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"])
        yield b
        b.close()


def _shot(page: object, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)  # type: ignore[attr-defined]


def _in_view(locator: object) -> bool:
    """True if the element is visible inside its scrolling panel and the window."""
    return bool(locator.evaluate(  # type: ignore[attr-defined]
        """el => { const r = el.getBoundingClientRect(); const p = el.closest('#rag-panel, .panel');
                   const pr = p ? p.getBoundingClientRect() : {top: 0, bottom: innerHeight};
                   return r.height > 0 && r.top < Math.min(pr.bottom, innerHeight) && r.bottom > Math.max(pr.top, 0); }"""))


def test_chat_streams_cites_and_highlights(app: tuple[str, Path], browser: object) -> None:
    url, data = app
    page = browser.new_page(viewport={"width": 1400, "height": 900})  # type: ignore[attr-defined]
    page.add_init_script(_WATCH)
    page.goto(url)
    page.locator("#rag-question textarea").fill(QUESTION)
    page.locator("#rag-ask").click()
    marker = page.locator("#rag-chat a.rag-cite").first
    marker.wait_for(timeout=90_000)
    seen = page.evaluate("window.__seen")
    assert any("checking citations" in s for s in seen), "the draft never streamed in"
    answer = page.locator("#rag-chat .rag-answer").last.inner_text()
    assert "22" in answer and "[1]" in answer
    assert "answers by extractive (offline)" in page.locator("#rag-info").inner_text()

    # Push the passage out of view first, so the click has something to do.
    page.locator("#rag-panel").evaluate("p => { p.style.maxHeight = '120px'; p.scrollTop = p.scrollHeight; }")
    target = page.locator(marker.get_attribute("href"))
    marker.click()
    page.wait_for_timeout(1200)  # smooth scrolling
    assert _in_view(target) and "rag-flash" in (target.get_attribute("class") or "")
    assert "killed 22 more" in target.locator("mark").first.inner_text()
    page.locator("#rag-panel").evaluate("p => { p.style.maxHeight = ''; }")
    _shot(page, "chat-answer-with-citation")

    # A thumbs-up is stored and listed by `rag feedback`.
    page.locator("#rag-chat button[aria-label='Like']").last.click()
    page.get_by_text("Thanks: feedback saved.").wait_for(timeout=30_000)
    listed = rag_cli(data, "feedback", "--json", env={"RAG_FEEDBACK_DB": str(data / "fb.sqlite")},
                  stdout=subprocess.PIPE).communicate(timeout=60)[0]
    assert json.loads(listed)[0]["rating"] == 1

    # Errors are plain messages, never tracebacks.
    page.get_by_text("Filters and corpus").click()
    page.locator("#rag-from textarea, #rag-from input").first.fill("last week")
    page.locator("#rag-question textarea").fill("And what did the defence minister say?")
    page.locator("#rag-ask").click()
    page.get_by_text("must look like 2026-02-04").wait_for(timeout=30_000)
    assert "Traceback" not in page.locator("#rag-chat").inner_text()
    page.locator("#rag-from textarea, #rag-from input").first.fill("2026-03-01")
    page.locator("#rag-question textarea").fill(QUESTION)
    page.locator("#rag-ask").click()
    page.locator("#rag-chat").get_by_text("The articles do not say.").last.wait_for(timeout=60_000)
    _shot(page, "chat-filtered-refusal")

    # The conversation survives a reload (the browser keeps it), citations and follow-ups included.
    answers_before = page.locator("#rag-chat .rag-answer").count()
    chat_before = page.locator("#rag-chat .rag-answer").all_inner_texts()
    panel_before = page.locator("#rag-panel").inner_text()
    page.reload()
    page.locator("#rag-chat a.rag-cite").first.wait_for(timeout=60_000)
    assert page.locator("#rag-chat .rag-answer").all_inner_texts() == chat_before
    assert page.locator("#rag-panel").inner_text() == panel_before
    page.locator("#rag-question textarea").fill("And what did the defence minister say?")
    page.locator("#rag-ask").click()
    page.wait_for_function(f"document.querySelectorAll('#rag-chat .rag-answer').length > {answers_before}",
                           timeout=60_000)

    page.locator("#rag-new").click()
    page.wait_for_function("!document.querySelector('#rag-chat .rag-answer')", timeout=30_000)
    page.reload()
    page.locator("#rag-question textarea").wait_for(timeout=30_000)
    page.wait_for_timeout(1500)  # the restore runs on load
    assert page.locator("#rag-chat .rag-answer").count() == 0  # a new chat is not brought back
    page.close()


def test_upload_makes_an_article_searchable(app: tuple[str, Path], browser: object, tmp_path: Path) -> None:
    url, _ = app
    article = tmp_path / "harbour.txt"
    article.write_text(
        "date 2026-02-03\n\nThe port authority of Gwadar said on Tuesday that 14 cargo cranes were installed "
        "at the east berth, doubling its container capacity.\n", encoding="utf-8")
    page = browser.new_page(viewport={"width": 1400, "height": 900})  # type: ignore[attr-defined]
    page.goto(url)
    page.get_by_text("Add articles").click()
    page.locator("#rag-files input[type=file]").set_input_files(str(article))
    page.locator("#rag-add").click()
    page.locator("#rag-upload-note").get_by_text("Added 1").wait_for(timeout=120_000)
    page.locator("#rag-question textarea").fill("How many cargo cranes were installed at Gwadar?")
    page.locator("#rag-ask").click()
    page.locator("#rag-chat a.rag-cite").first.wait_for(timeout=60_000)
    assert "14" in page.locator("#rag-chat .rag-answer").last.inner_text()
    _shot(page, "chat-after-upload")

    # A web page by URL takes the same path as `rag ingest URL`: this server may not fetch
    # from its own network (fetch_private_hosts is off), and says so in the note.
    page.locator("#rag-urls textarea").fill(f"{url}/healthz")
    page.locator("#rag-add").click()
    page.locator("#rag-upload-note").get_by_text("private or loopback address").wait_for(timeout=60_000)
    assert "Fetched 0 page(s)" in page.locator("#rag-upload-note").inner_text()
    page.close()


def test_embed_in_an_iframe_on_another_origin(app: tuple[str, Path], browser: object, portal: str) -> None:
    url, _ = app
    _portal_page(url)
    page = browser.new_page(viewport={"width": 1200, "height": 760})  # type: ignore[attr-defined]
    page.goto(f"{portal}/index.html")
    frame = page.frame_locator("#rag")
    frame.locator("#question").fill(QUESTION)
    frame.locator("#send").click()
    marker = frame.locator("a.rag-cite").first
    marker.wait_for(timeout=90_000)
    marker.click()
    page.wait_for_timeout(1000)
    target = frame.locator(marker.get_attribute("href") or "")
    assert _in_view(target) and "killed 22 more" in target.locator("mark").first.inner_text()
    _shot(page, "embed-in-portal-iframe")
    page.close()


def test_embed_refused_by_origins_not_allowed(app: tuple[str, Path], browser: object, portal: str) -> None:
    """frame-ancestors is enforced by the browser: a page on an origin not in the list gets no chat."""
    url, _ = app
    _portal_page(url)
    other = portal.replace("localhost", "127.0.0.1")  # same server, origin not in frame_ancestors
    page = browser.new_page()  # type: ignore[attr-defined]
    said: list[str] = []
    page.on("console", lambda message: said.append(message.text))
    page.goto(f"{other}/index.html")
    # The browser says why it shows nothing: the frame-ancestors directive.
    for _ in range(50):
        if any("frame-ancestors" in text for text in said):
            break
        page.wait_for_timeout(200)
    assert any("frame-ancestors" in text for text in said), said
    frame = next(f for f in page.frames if f is not page.main_frame)
    assert frame.locator("#question").count() == 0
    page.close()


def _portal_page(url: str) -> None:
    """The portal's page: /embed of the server at ``url`` in an iframe."""
    (ARTIFACTS / "portal" / "index.html").write_text(
        "<!doctype html><title>Portal</title><body style='font-family:sans-serif;background:#eef'>"
        f"<h2>Intranet portal</h2><iframe id='rag' src='{url}/embed' "
        "style='width:1100px;height:600px;border:1px solid #888;background:#fff'></iframe></body>")


def test_chat_login_when_keys_are_set(app: tuple[str, Path], browser: object) -> None:
    """With API keys configured the chat needs a login (chat users from the environment)."""
    _, data = app
    env = {"RAG_API_KEYS": "k-read-0a1b", "RAG_UI_USERS": "ana:pw-4d5e6f"}
    proc, url = serve(data, data / "login.log", env)
    page = browser.new_page(viewport={"width": 1200, "height": 800})  # type: ignore[attr-defined]
    try:
        page.goto(url)
        page.locator("input[type=password]").wait_for(timeout=30_000)
        assert page.locator("#rag-question").count() == 0
        page.locator("input[type=text]").first.fill("ana")
        page.locator("input[type=password]").fill("wrong")
        with page.expect_response(lambda r: r.url.endswith("/login")) as refused:
            page.get_by_role("button", name="Login").click()
        assert refused.value.status == 400
        page.get_by_text("Incorrect", exact=False).first.wait_for(timeout=30_000)
        assert page.locator("#rag-question").count() == 0
        page.locator("input[type=text]").first.fill("ana")  # the form clears both fields on failure
        page.locator("input[type=password]").fill("pw-4d5e6f")
        page.get_by_role("button", name="Login").click()
        page.locator("#rag-question textarea").fill(QUESTION)
        page.locator("#rag-ask").click()
        page.locator("#rag-chat a.rag-cite").first.wait_for(timeout=90_000)
        assert page.get_by_text("Add articles").count() == 1  # logged-in users may upload
        _shot(page, "chat-after-login")
    finally:
        page.close()
        proc.terminate()
        proc.wait(timeout=30)
    assert "pw-4d5e6f" not in (data / "login.log").read_text()


def teardown_module() -> None:
    shutil.rmtree(ARTIFACTS / "portal", ignore_errors=True)


def test_eval_report_reads_as_a_page(browser: object, tmp_path: Path, hashing: object) -> None:
    from click.testing import CliRunner

    from ui.cli import cli

    base = ["--data-dir", str(tmp_path / "data"), "--corpus", "reporttest"]
    env = {"RAG_EMBED_BACKEND": "hashing"}
    assert CliRunner().invoke(cli, [*base, "ingest", "--sample"], env=env).exit_code == 0
    assert CliRunner().invoke(cli, [*base, "eval", "--out", str(tmp_path / "out"), "-q"], env=env).exit_code == 0
    page = browser.new_page(viewport={"width": 1200, "height": 900})  # type: ignore[attr-defined]
    page.goto((tmp_path / "out" / "report.html").as_uri())
    headings = page.locator("h2").all_inner_texts()
    # The figures that matter lead; exact match and token F1 come after them, explained.
    assert headings[:3] == ["What the articles let it answer", "Answers and citations", "Refusals"]
    assert headings.index("Exact match and token F1") > headings.index("Retrieval")
    assert page.locator("pre").count() == 0 and "|---" not in page.locator("body").inner_text()
    assert "Citations checked by the 'relations' judge" in page.locator(".lead").inner_text()
    _shot(page, "eval-report")
    page.close()


# An article written to attack whoever reads it: scripts, an event handler, a javascript: link and
# URL, CSS that would hide the page or cover it. Everything of it must stay text.
_PWN = "window.__pwned = (window.__pwned || []).concat"
HOSTILE_ARTICLE = {
    "id": "hostile-1", "url": f"javascript:{_PWN}(['url'])", "source": "x.example", "published": "2026-02-06",
    "title": f"<img src=x onerror=\"{_PWN}(['title'])\">Zanthor harbour reopens",
    "text": (f"The harbour of Zanthor reopened on Monday after the storms. <script>{_PWN}(['script'])</script> "
             f"<img src=x onerror=\"{_PWN}(['img'])\"> <a href=\"javascript:{_PWN}(['link'])\">details</a> "
             "<style>body { display: none !important }</style> "
             "<div style=\"position:fixed;inset:0;background:red;z-index:9999\">overlay</div> "
             "The harbour master said 12 ships docked on the first day."),
}
HOSTILE_QUESTION = "How many ships docked at Zanthor harbour on the first day?"


def _inert(page: object, dialogs: list[str]) -> None:
    assert page.evaluate("window.__pwned === undefined"), page.evaluate("window.__pwned")  # type: ignore[attr-defined]
    assert not dialogs
    assert page.evaluate("getComputedStyle(document.body).display") != "none"  # type: ignore[attr-defined]
    assert page.locator("a[href^='javascript:'], [onerror], script:not([src])").evaluate_all(  # type: ignore[attr-defined]
        "els => els.filter(e => (e.textContent || '').includes('__pwned') || "
        "(e.getAttribute('href') || e.getAttribute('onerror') || '').includes('__pwned')).length") == 0
    assert page.locator("div[style*='position:fixed']").count() == 0  # type: ignore[attr-defined]


def test_a_hostile_article_is_inert_in_the_chat_and_embed(app: tuple[str, Path], browser: object) -> None:
    import httpx

    url, _ = app
    posted = httpx.post(f"{url}/api/ingest", json={"articles": [HOSTILE_ARTICLE]}, timeout=120).json()
    assert posted["added"] == 1, posted
    try:
        page = browser.new_page(viewport={"width": 1400, "height": 900})  # type: ignore[attr-defined]
        dialogs: list[str] = []
        page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
        page.goto(url)
        page.locator("#rag-question textarea").fill(HOSTILE_QUESTION)
        page.locator("#rag-ask").click()
        page.locator("#rag-chat a.rag-cite").first.wait_for(timeout=90_000)
        assert "12" in page.locator("#rag-chat .rag-answer").last.inner_text()
        page.wait_for_timeout(1000)  # an onerror would have fired by now
        assert "overlay</div>" in page.locator("#rag-panel").inner_text()  # the markup shown as text
        _inert(page, dialogs)
        _shot(page, "chat-hostile-article")

        page.goto(f"{url}/embed")
        page.locator("#question").fill(HOSTILE_QUESTION)
        page.locator("#send").click()
        page.locator("a.rag-cite").first.wait_for(timeout=90_000)
        page.wait_for_timeout(1000)
        _inert(page, dialogs)
        page.close()
    finally:
        httpx.delete(f"{url}/api/articles/hostile-1", timeout=60)


def test_a_hostile_article_and_question_are_inert_in_the_eval_report(
    browser: object, tmp_path: Path, hashing: object
) -> None:
    from click.testing import CliRunner

    from ui.cli import cli

    base = ["--data-dir", str(tmp_path / "data"), "--corpus", "hostilereport"]
    env = {"RAG_EMBED_BACKEND": "hashing"}
    articles = tmp_path / "a.jsonl"
    articles.write_text(json.dumps(HOSTILE_ARTICLE) + "\n")
    gold = tmp_path / "gold.jsonl"
    gold.write_text(json.dumps({"id": "h1", "question": f"<script>{_PWN}(['question'])</script> {HOSTILE_QUESTION}",
                                "answer": "12", "answerable": True, "question_date": "2026-02-07"}) + "\n")
    assert CliRunner().invoke(cli, [*base, "ingest", str(articles)], env=env).exit_code == 0
    ran = CliRunner().invoke(cli, [*base, "eval", "--gold", str(gold), "--out", str(tmp_path / "out"), "-q"], env=env)
    assert ran.exit_code in (0, 1), ran.output  # 1: below the thresholds, which a one-question set may be
    page = browser.new_page()  # type: ignore[attr-defined]
    dialogs: list[str] = []
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    page.goto((tmp_path / "out" / "report.html").as_uri())
    page.wait_for_timeout(1000)
    _inert(page, dialogs)
    page.close()
