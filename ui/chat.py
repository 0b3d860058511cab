"""The Gradio chat: streamed answers with [n] markers, a side panel of the cited
passages with the supporting text highlighted, filters, corpus picker, upload,
and thumbs/comment feedback.

Every callback turns our errors into a plain message in the conversation; an
unexpected exception is logged and the user sees one sentence, never a traceback.
"""

from __future__ import annotations

import html
import logging
import shutil
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import gradio as gr

from evals.gold import load_gold, sample_gold
from index.load import SUFFIXES, sample_dir
from rag.generators import GENERATORS
from rag.errors import InputError, RagError
from rag.settings import Settings
from rag.types import Answer, Filters
from ui.auth import RateLimiter
from ui.engines import Engines
from ui.feedback import FeedbackStore
from ui.render import answer_html, panel_html

log = logging.getLogger("rag.chat")
# What ingest reads is what the chat takes: one table, in index/load.py.
UPLOAD_TYPES = sorted(SUFFIXES)
_OOPS = "Something went wrong on our side (it has been logged). Please try again."


def build_chat(
    settings: Settings,
    engines: Engines,
    feedback: FeedbackStore,
    limiter: RateLimiter,
    *,
    upload: bool,
) -> gr.Blocks:
    """The chat as Gradio Blocks, to be mounted on the API app."""
    try:
        firsts: list[dict[str, Any]] | None = engines.store().first_chunks()  # read once at start
    except RagError:
        firsts = None
    info_text, outlets = _corpus_view(engines, settings.corpus, firsts)
    with gr.Blocks(title="News answers with citations", fill_width=True) as demo:
        answers = gr.State([])  # one entry per assistant message: Answer, or None for an error
        # The conversation, kept in the browser's localStorage (encrypted by Gradio) so a page
        # reload or a second tab of the same browser finds it again; the server keeps nothing.
        saved = gr.BrowserState({"messages": [], "answers": []}, storage_key="newsrag-chat")
        rated = gr.State({})  # assistant-message number -> feedback row id
        with gr.Row():
            gr.Markdown("### Ask the news: every sentence is checked against the passage it cites")
            info = gr.Markdown(info_text, elem_id="rag-info")
        with gr.Row(equal_height=False):
            with gr.Column(scale=3):
                chatbot = gr.Chatbot(
                    elem_id="rag-chat",
                    height=540,
                    placeholder="Ask a question about the articles. Answers cite their passages: click a [n].",
                    feedback_options=("Like", "Dislike"),
                    buttons=["copy", "copy_all"],
                )
                with gr.Row():
                    question = gr.Textbox(
                        placeholder="Ask about the articles…",
                        show_label=False,
                        scale=8,
                        elem_id="rag-question",
                        max_length=settings.max_question_chars,
                        submit_btn=False,
                    )
                    ask = gr.Button("Ask", variant="primary", scale=1, min_width=80, elem_id="rag-ask")
                    new = gr.Button("New chat", scale=1, min_width=80, elem_id="rag-new")
                examples = _examples(settings, firsts or [])
                if examples:
                    gr.Examples(examples, inputs=question, label="Examples")
                with gr.Row():
                    comment = gr.Textbox(placeholder="Comment on the last answer (optional)", show_label=False, scale=5)
                    send_comment = gr.Button("Send comment", scale=1)
                feedback_note = gr.Markdown(elem_id="rag-feedback-note")
            with gr.Column(scale=2):
                panel = gr.HTML(panel_html([]), elem_id="rag-panel")
        with gr.Accordion("Filters and corpus", open=False):
            with gr.Row():
                corpus = gr.Dropdown(_corpora(engines), value=settings.corpus, label="Corpus", elem_id="rag-corpus")
                date_from = gr.Textbox(label="Published from", placeholder="YYYY-MM-DD", elem_id="rag-from")
                date_to = gr.Textbox(label="Published to", placeholder="YYYY-MM-DD", elem_id="rag-to")
                sources = gr.Dropdown(outlets, multiselect=True, label="Outlets", elem_id="rag-outlets")
        if upload:
            with gr.Accordion("Add articles", open=False):
                gr.Markdown(
                    f"JSONL, .txt, .md, .html or .pdf, up to {settings.max_request_mb:g} MB each, or the "
                    "URLs of article pages (fetched, their main text kept); searchable as soon as they are added."
                )
                files = gr.File(file_count="multiple", file_types=UPLOAD_TYPES, label="Files", elem_id="rag-files")
                urls = gr.Textbox(label="Or web pages: their URLs, one per line", lines=2, elem_id="rag-urls",
                                  placeholder="https://…")
                add = gr.Button("Add to corpus", elem_id="rag-add")
                upload_note = gr.Markdown(elem_id="rag-upload-note")

        def respond(
            text: str, history: list[dict[str, Any]], done: list[Answer | None], name: str,
            dfrom: str, dto: str, outlets: list[str] | None, request: gr.Request,
        ) -> Iterator[tuple[Any, ...]]:
            text = (text or "").strip()
            if not text:
                yield gr.skip(), gr.skip(), gr.skip(), gr.skip(), gr.skip()
                return
            history = [*history, {"role": "user", "content": text}, {"role": "assistant", "content": "…"}]
            yield "", history, done, gr.skip(), gr.skip()
            turn, final = len(done), None
            try:
                wait = limiter.hit(f"ui:{_client(request)}")
                if wait is not None:
                    raise RagError(f"Too many questions: try again in {wait:.0f} s")
                filters = Filters(_day(dfrom, "from"), _day(dto, "to"), tuple(outlets or ()))
                earlier = [(a.question, a.text) for a in done if a is not None]
                draft = ""
                for piece in engines.get(name).ask_stream(text, earlier, filters):
                    if isinstance(piece, Answer):
                        final = piece
                    else:
                        draft += piece
                        history[-1] = {"role": "assistant", "content": html.escape(draft)
                                       + ' <span class="rag-meta">checking citations…</span>'}
                        yield "", history, done, gr.skip(), gr.skip()
                assert final is not None
                engines.answered(final, "chat")
                message = answer_html(final, turn)
            except RagError as exc:
                message = f"⚠️ {html.escape(str(exc))}"
            except Exception:
                log.exception("chat answer failed")
                message = f"⚠️ {_OOPS}"
            history[-1] = {"role": "assistant", "content": message}
            done = [*done, final]
            yield "", history, done, panel_html(done), _kept(history, done)

        inputs = [question, chatbot, answers, corpus, date_from, date_to, sources]
        outputs = [question, chatbot, answers, panel, saved]
        ask.click(respond, inputs, outputs)
        question.submit(respond, inputs, outputs)

        def restart() -> tuple[Any, ...]:
            return [], [], {}, panel_html([]), "", "", {"messages": [], "answers": []}

        cleared = [chatbot, answers, rated, panel, question, feedback_note, saved]
        new.click(restart, None, cleared)
        chatbot.clear(restart, None, cleared)

        def restore(kept: dict[str, Any] | None) -> tuple[Any, ...]:
            messages, done = _restored(kept)
            return messages, done, panel_html(done)

        demo.load(restore, saved, [chatbot, answers, panel])

        def on_like(done: list[Answer | None], ids: dict[int, int], name: str, data: gr.LikeData) -> tuple[Any, ...]:
            turn = _turn(data.index)
            answer = done[turn] if turn is not None and turn < len(done) else None
            if answer is None:
                return ids, "Only answers can be rated."
            rating = 1 if data.liked is True else -1 if data.liked is False else 0
            try:
                ids = {**ids, turn: _save(feedback, answer, name, rating=rating, feedback_id=ids.get(turn))}
            except RagError as exc:
                return ids, f"⚠️ {html.escape(str(exc))}"
            return ids, "Thanks: feedback saved."

        chatbot.like(on_like, [answers, rated, corpus], [rated, feedback_note])

        def on_comment(text: str, done: list[Answer | None], ids: dict[int, int], name: str) -> tuple[Any, ...]:
            turns = [i for i, a in enumerate(done) if a is not None]
            if not (text or "").strip():
                return gr.skip(), ids, "Write a comment first."
            if not turns:
                return gr.skip(), ids, "Ask a question first: comments go with the last answer."
            turn = turns[-1]
            answer = done[turn]
            assert answer is not None
            try:
                ids = {**ids, turn: _save(feedback, answer, name, comment=text, feedback_id=ids.get(turn))}
            except RagError as exc:
                return gr.skip(), ids, f"⚠️ {html.escape(str(exc))}"
            return "", ids, "Thanks: comment saved with the last answer."

        send_comment.click(on_comment, [comment, answers, rated, corpus], [comment, rated, feedback_note])

        def on_corpus(name: str) -> tuple[Any, ...]:
            text, choices = _corpus_view(engines, name)
            return text, gr.Dropdown(choices=choices, value=[])

        corpus.change(on_corpus, corpus, [info, sources])

        if upload:
            def on_upload(
                paths: list[str] | None, pages: str, name: str, progress: gr.Progress = gr.Progress()
            ) -> tuple[Any, ...]:
                try:
                    addresses = [u.strip() for u in (pages or "").splitlines() if u.strip()]
                    notes = [_ingest(engines, settings, paths, name, progress)] if paths or not addresses else []
                    if addresses:
                        notes.append(_ingest_pages(engines, addresses, name))
                    note = "\n\n".join(notes)
                except RagError as exc:
                    note = f"⚠️ {exc}"
                except Exception:
                    log.exception("upload failed")
                    note = f"⚠️ {_OOPS}"
                text, choices = _corpus_view(engines, name)
                return note, None, "", text, gr.Dropdown(choices=choices)

            add.click(on_upload, [files, urls, corpus], [upload_note, files, urls, info, sources])
    return demo


# Turns kept in the browser: enough for a long conversation, well inside localStorage's 5 MB.
_KEPT_TURNS = 50


def _kept(history: list[dict[str, Any]], done: list[Answer | None]) -> dict[str, Any]:
    """The conversation as the browser keeps it: messages, and each answer as a dict."""
    turns = done[-_KEPT_TURNS:]
    return {"messages": history[-2 * len(turns):] if turns else [],
            "answers": [a.to_dict() if a is not None else None for a in turns]}


def _restored(kept: dict[str, Any] | None) -> tuple[list[dict[str, Any]], list[Answer | None]]:
    """The conversation the browser kept; an unreadable one (another version's) is dropped."""
    try:
        answers = [Answer.from_dict(a) if a is not None else None for a in (kept or {}).get("answers", [])]
        messages = list((kept or {}).get("messages", []))
    except (KeyError, TypeError, ValueError):
        return [], []
    if len(messages) != 2 * len(answers):
        return [], []
    return messages, answers


def _turn(index: Any) -> int | None:
    """The assistant-message number of a chatbot message index (user, assistant alternate)."""
    i = index[0] if isinstance(index, (list, tuple)) else index
    return int(i) // 2 if isinstance(i, int) and i % 2 == 1 else None


def _save(
    store: FeedbackStore, answer: Answer, corpus: str, *, rating: int | None = None, comment: str | None = None,
    feedback_id: int | None = None,
) -> int:
    return store.record(
        corpus=corpus, question=answer.question, answer=answer.text, status=answer.status,
        generator=answer.generator, sources=answer.sources,
        rating=rating, comment=comment, feedback_id=feedback_id, owner="chat",
    )


def _day(value: str, which: str) -> date | None:
    value = (value or "").strip()
    if not value:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise RagError(f"The '{which}' date must look like 2026-02-04, not {value!r}") from None


def _client(request: gr.Request | None) -> str:
    host = getattr(getattr(request, "client", None), "host", None)
    return str(host or "unknown")


def _corpora(engines: Engines) -> list[str]:
    try:
        return engines.corpora()
    except RagError:
        return [engines.settings.corpus]


def _corpus_view(
    engines: Engines, corpus: str, firsts: list[dict[str, Any]] | None = None
) -> tuple[str, list[str]]:
    """The info line (size, dates, generator) and the outlets of ``corpus``, from one stats read
    (``firsts``: its chunk-0 rows, when already read)."""
    settings = engines.settings_for(corpus)
    try:
        st = engines.store(corpus).stats(firsts)
        size = f"{st.articles:,} article{'s' if st.articles != 1 else ''}"
        if st.first_published:
            size += f", {st.first_published} to {st.last_published}"
        outlets = sorted(s for s in st.sources if s != "(none)")
    except RagError:
        size, outlets = "empty: add articles below or with `rag ingest`", []
    known = settings.generator in GENERATORS
    generator = GENERATORS.get(settings.generator).label(settings) if known else settings.generator
    return f"Corpus **{corpus}** ({size}) · answers by **{generator}**", outlets


def _examples(settings: Settings, firsts: list[dict[str, Any]]) -> list[str]:
    """The configured examples; else the bundled sample's questions when it is loaded; else newest titles."""
    if settings.ui_examples:
        return list(settings.ui_examples)
    bundled = {p.name for p in sample_dir().iterdir()}
    if any(Path(str(m.get("path", ""))).name in bundled for m in firsts):
        gold = load_gold(sample_gold())
        return [q.question for q in gold if q.answerable][:3] + [q.question for q in gold if not q.answerable][:1]
    newest = sorted(firsts, key=lambda m: str(m.get("published", "")), reverse=True)
    return [f"What is the latest on: {m['title'].rstrip('…')}?" for m in newest[:3] if m.get("title")]


def _ingest_pages(engines: Engines, urls: list[str], corpus: str) -> str:
    fetched, report = engines.ingest_web(urls, [], corpus)
    note = (f"Fetched {fetched.pages} page(s): added {report.added}, updated {report.updated}, "
            f"unchanged {report.unchanged} article(s); {report.chunks_written} chunk(s) written.")
    problems = [*fetched.errors, *report.errors]
    if problems:
        note += "\n\nNot added:\n" + "\n".join(f"- {html.escape(str(e))}" for e in problems)
    return note


def _ingest(engines: Engines, settings: Settings, paths: list[str], corpus: str, progress: gr.Progress) -> str:
    if not paths:
        return "Choose files or give URLs first."
    limit = settings.max_request_mb * 1024 * 1024
    for p in map(Path, paths):
        if p.suffix.lower() not in UPLOAD_TYPES:
            raise InputError(p.name, f"unsupported type {p.suffix or '(none)'}: use {', '.join(UPLOAD_TYPES)}")
        if p.stat().st_size > limit:
            raise InputError(p.name, f"larger than {settings.max_request_mb:g} MB")
    with engines.upload_dir(corpus) as staging:
        staged = [Path(shutil.copy(p, staging / p.name)) for p in map(Path, paths)]
        progress(0, desc="Reading files")
        report = engines.ingest(staged, corpus, lambda done, total: progress(done / max(total, 1), desc="Embedding"))
    note = (f"Added {report.added}, updated {report.updated}, unchanged {report.unchanged} article(s); "
            f"{report.chunks_written} chunk(s) written.")
    if report.errors:
        note += "\n\nNot added:\n" + "\n".join(f"- {html.escape(str(e))}" for e in report.errors)
    return note
