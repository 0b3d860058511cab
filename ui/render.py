"""HTML of an answer and of its cited passages, shared by the chat and the /embed page.

Markers ``[n]`` become links to ``#rag-c-<turn>-<n>``, the id of the passage in
the side panel; ``static/cite.js`` turns a click into scrolling the passage
into view. Every piece of text is escaped: articles and answers are data.
"""

from __future__ import annotations

import functools
import html
import re
from importlib import resources

from rag.types import Answer, Passage, is_web_url

_MARKER = re.compile(r"\[(\d+)\]")


@functools.cache
def static(name: str) -> str:
    """A file of ``ui/static`` (the shared stylesheet and script)."""
    return (resources.files("ui") / "static" / name).read_text(encoding="utf-8")


def plain_page(message: str) -> str:
    """A page of one plain sentence (the chat turned off, an embed without a token)."""
    return ("<!doctype html><meta charset=utf-8><title>News answers</title>"
            f"<p style='font:16px system-ui'>{html.escape(message)}</p>")


def head() -> str:
    """The ``<style>`` and ``<script>`` both pages need."""
    return f"<style>{static('cite.css')}</style>\n<script>{static('cite.js')}</script>"


def answer_html(answer: Answer, turn: int) -> str:
    """The answer text with clickable markers, removed sentences marked, and a footer."""
    titles = {c.n: c.passage.title or c.passage.url for c in answer.citations}

    def link(match: re.Match[str]) -> str:
        n = int(match.group(1))
        title = html.escape(titles.get(n, ""), quote=True)
        return f'<a class="rag-cite" href="#rag-c-{turn}-{n}" title="{title}">[{n}]</a>'

    body = _MARKER.sub(link, html.escape(answer.text, quote=False))
    parts = [f'<div class="rag-answer">{body}</div>']
    dropped = [s for s in answer.sentences if s.status == "unsupported"]
    if dropped:
        items = "".join(
            f"<li><s>{html.escape(s.text)}</s> <em>({html.escape(s.reason or 'not supported')})</em></li>"
            for s in dropped
        )
        noun = "sentence" if len(dropped) == 1 else "sentences"
        parts.append(
            f'<details class="rag-dropped"><summary>{len(dropped)} {noun} removed: '
            f"not supported by the passages cited</summary><ul>{items}</ul></details>"
        )
    if answer.refused and answer.passages:
        parts.append('<div class="rag-meta">Closest passages are in the panel.</div>')
    elif answer.refused:
        parts.append('<div class="rag-meta">No passage matched the question and the filters.</div>')
    ms = answer.timings.get("total_ms")
    took = f" · {ms / 1000:.1f} s" if ms is not None else ""
    parts.append(f'<div class="rag-meta">Answered by {html.escape(answer.generator)}{took}</div>')
    return "\n".join(parts)


def passages_html(answer: Answer, turn: int, *, open_: bool = True) -> str:
    """The cited passages of one answer (or, for a refusal, the closest ones), supporting text marked."""
    if answer.citations:
        items = [(c.n, c.passage, c.spans, c.deep_link) for c in answer.citations]
        heading = "Cited passages"
    else:
        items = [(p.n, p, (), p.url) for p in answer.passages]
        heading = "Closest passages (they do not answer the question)" if items else "No passage found"
    cards = "".join(_card(turn, n, p, spans, link) for n, p, spans, link in items)
    question = html.escape(answer.question)
    return (
        f'<section class="rag-turn" id="rag-t-{turn}"><details{" open" if open_ else ""}>'
        f'<summary><span class="rag-q">{question}</span> <span class="rag-h">{heading}</span></summary>'
        f"{cards}</details></section>"
    )


def panel_html(answers: list[Answer | None]) -> str:
    """The side panel: every answer's passages, newest first and only the newest open.

    ``answers`` holds one entry per turn (None for a turn that failed), so each
    turn keeps the number its markers point at.
    """
    shown = [(i, a) for i, a in enumerate(answers) if a is not None]
    if not shown:
        return '<div class="rag-empty">Cited passages appear here, with the supporting text highlighted.</div>'
    last = shown[-1][0]
    return "".join(passages_html(a, i, open_=i == last) for i, a in reversed(shown))


def _card(turn: int, n: int, passage: Passage, spans: tuple[tuple[int, int], ...], link: str) -> str:
    title = html.escape(passage.title or passage.url or passage.article_id)
    meta = " · ".join(html.escape(x) for x in (passage.source, passage.published) if x)
    safe = is_web_url(link)  # an article's url could be "javascript:..." (articles are data)
    heading = (
        f'<a href="{html.escape(link, quote=True)}" target="_blank" rel="noopener noreferrer">{title}</a>'
        if safe else title
    )
    return (
        f'<article class="rag-passage" id="rag-c-{turn}-{n}"><header><span class="rag-n">[{n}]</span> '
        f'{heading}</header><div class="rag-src">{meta}</div><p>{_highlight(passage.text, spans)}</p></article>'
    )


def _highlight(text: str, spans: tuple[tuple[int, int], ...]) -> str:
    """``text`` escaped, with ``<mark>`` around the (merged) spans."""
    out, pos = [], 0
    for start, end in sorted(spans):
        start, end = max(start, pos), min(end, len(text))
        if start >= end:
            continue
        out += [html.escape(text[pos:start]), f"<mark>{html.escape(text[start:end])}</mark>"]
        pos = end
    out.append(html.escape(text[pos:]))
    return "".join(out)
