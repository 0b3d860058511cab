"""The ``rag`` command: ingest, delete and inspect a corpus, ask, evaluate, serve.

The command line is a user interface like the HTTP API, so it lives in ``ui/``
and may call index, rag and evals; nothing below imports it. Errors of ours (:class:`~rag.errors.RagError`) are printed as one line and
exit with status 1; anything else is a bug and keeps its traceback.
"""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from rag.errors import RagError
from rag.settings import Settings, load_settings

# Exit statuses: 0 done, 1 an error of ours (bad input, backend down), 2 a usage error
# (click's), 3 `rag ask` refused: the articles do not answer the question.
EXIT_ERROR, EXIT_REFUSED = 1, 3


class _Group(click.Group):
    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except RagError as exc:
            if ctx.meta.get("json"):
                # A script asked for JSON: it gets JSON for the failure too, on stdout.
                click.echo(json.dumps({"ok": False, "error": str(exc), "type": type(exc).__name__}))
            else:
                click.secho(f"Error: {exc}", fg="red", err=True)
            sys.exit(EXIT_ERROR)


def _note_json(ctx: click.Context, param: click.Parameter, value: bool) -> bool:
    ctx.meta["json"] = value  # read by _Group when an error ends the command
    return value


def _known_judge(ctx: click.Context, param: click.Parameter, value: str) -> str:
    from evals.judge import judge_names

    if value not in (*judge_names(), "offline"):
        raise click.BadParameter(f"'{value}' is not one of {', '.join(judge_names())}")
    return value


def _known_generator(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    from rag.generators import known_generators

    if value is not None and value not in known_generators():
        raise click.BadParameter(f"'{value}' is not one of {', '.join(known_generators())}")
    return value


@click.group(cls=_Group)
@click.version_option(package_name="newsrag", prog_name="rag")
@click.option("--config", type=click.Path(dir_okay=False), help="TOML settings file.")
@click.option("--corpus", help="Corpus (collection) name.")
@click.option("--data-dir", type=click.Path(file_okay=False), help="Where the store lives.")
@click.pass_context
def cli(ctx: click.Context, config: str | None, corpus: str | None, data_dir: str | None) -> None:
    """Question answering over news articles, with verified citations."""
    from ui.telemetry import configure_tracing

    configure_tracing()
    given = {"corpus": corpus, "data_dir": data_dir}
    # A subcommand's own option (e.g. `rag eval --corpus X`) wins over the group's.
    ctx.obj = lambda **extra: load_settings(config, **{**given, **{k: v for k, v in extra.items() if v is not None}})


def _settings(ctx: click.Context, **extra: Any) -> Settings:
    loader: Callable[..., Settings] = ctx.obj
    return loader(**extra)


@cli.command()
@click.argument("paths", nargs=-1)
@click.option("--sample", is_flag=True, help="Ingest the bundled sample article.")
@click.option("--feed", "feeds", multiple=True, metavar="URL",
              help="RSS/Atom/JSON feed or sitemap whose linked articles to ingest (repeatable).")
@click.option("--quiet", "-q", is_flag=True, help="No progress bar.")
@click.option(
    "--skip-near-duplicates/--keep-near-duplicates",
    default=None,
    help="Skip articles that nearly duplicate a stored one (default: keep and report).",
)
@click.pass_context
def ingest(
    ctx: click.Context,
    paths: tuple[str, ...],
    sample: bool,
    feeds: tuple[str, ...],
    quiet: bool,
    skip_near_duplicates: bool | None,
) -> None:
    """Load, clean, chunk and embed the articles under PATHS.

    PATHS are JSONL, .txt, .md, .html or .pdf files, directories of them, or
    http(s) URLs of article pages (fetched and their main text extracted).
    Unchanged articles are skipped; changed ones are replaced. The exit status
    is 1 if any file, record or URL could not be ingested (the rest is stored).
    """
    from index.ingest import ingest as run_ingest
    from index.load import sample_dir
    from index.web import ingest_web, is_url

    settings = _settings(ctx, skip_near_duplicates=skip_near_duplicates)
    urls = [p for p in paths if is_url(p)]
    targets = [Path(p) for p in paths if not is_url(p)] + ([sample_dir()] if sample else [])
    if not targets and not urls and not feeds:
        raise click.UsageError("Give PATHS or URLs to ingest, --feed URL, or --sample")
    show = not quiet and sys.stderr.isatty()
    bars: list[Any] = []

    def progress(total: int) -> Callable[[int], None]:
        from tqdm import tqdm

        bar = tqdm(total=total, unit="article", disable=not show, file=sys.stderr)
        bars.append(bar)
        return bar.update

    ok = True
    try:
        if targets:
            report = run_ingest(targets, settings, progress=progress)
            _print_report(report, settings)
            ok = report.ok
        if urls or feeds:
            fetched, report = ingest_web(settings, urls=urls, feeds=list(feeds), progress=progress)
            _print_fetched(fetched)
            _print_report(report, settings)
            ok = ok and report.ok and not fetched.errors
    finally:
        for bar in bars:
            bar.close()
    if not ok:
        sys.exit(1)


@cli.command()
@click.option("--feed", "feeds", multiple=True, metavar="URL", help="Feed to read besides the `feeds` setting.")
@click.option("--feeds-file", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="File of feed URLs, one per line (# starts a comment).")
@click.option("--every", metavar="INTERVAL", help="Repeat at this interval (e.g. 90s, 10m, 1h) until stopped.")
@click.pass_context
def sync(ctx: click.Context, feeds: tuple[str, ...], feeds_file: Path | None, every: str | None) -> None:
    """Read the configured feeds and ingest their new and changed articles.

    Feeds come from the `feeds` setting, --feed and --feeds-file. Feeds and pages
    that have not changed since the last sync (ETag / Last-Modified) are not
    fetched again; unchanged articles are not embedded again. Exit status 1 if
    any feed or page failed (one line each); the rest is stored.
    """
    from index.web import ingest_web

    settings = _settings(ctx)
    listed = [ln.split("#", 1)[0].strip() for ln in feeds_file.read_text().splitlines()] if feeds_file else []
    every_feed = list(dict.fromkeys([*settings.feeds, *feeds, *(u for u in listed if u)]))
    if not every_feed:
        raise click.UsageError("No feeds: set `feeds`, or give --feed URL or --feeds-file FILE")
    interval = _interval(every) if every else None
    while True:
        started = time.strftime("%Y-%m-%d %H:%M:%S")
        try:
            fetched, report = ingest_web(settings, feeds=every_feed)
        except RagError as exc:
            if interval is None:
                raise
            # A store or model that is down for a while must not end a sync meant to run for days.
            click.secho(f"[{started}] Error: {exc}; trying again in {interval:.0f} s", fg="red", err=True)
            time.sleep(interval)
            continue
        click.echo(f"[{started}] ", nl=False)
        _print_fetched(fetched)
        _print_report(report, settings)
        if interval is None:
            if fetched.errors or not report.ok:
                sys.exit(1)
            return
        time.sleep(interval)


def _interval(text: str) -> float:
    import re

    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([smh]?)\s*", text)
    if not match:
        raise click.BadParameter(f"'{text}' is not an interval like 90s, 10m or 1h", param_hint="--every")
    seconds = float(match.group(1)) * {"": 1, "s": 1, "m": 60, "h": 3600}[match.group(2)]
    if seconds < 10:
        raise click.BadParameter("syncing more often than every 10 s is not polite to the sites", param_hint="--every")
    return seconds


def _print_fetched(report: Any) -> None:
    click.echo(
        f"Fetched {report.feeds} feeds ({report.feeds_unchanged} unchanged) and {report.pages} pages "
        f"({report.pages_unchanged} unchanged)."
    )
    for err in report.errors:
        click.secho(f"  {err}", fg="red", err=True)


def _print_report(report: Any, settings: Settings) -> None:
    rate = report.articles_seen / report.seconds if report.seconds else 0.0
    click.echo(
        f"{report.articles_seen} articles read in {report.seconds:.1f} s ({rate:.1f}/s) into "
        f"corpus '{settings.corpus}': {report.added} added, {report.updated} updated, "
        f"{report.unchanged} unchanged"
        + (f", {report.repaired} repaired" if report.repaired else "")
        + f"; {report.chunks_written} chunks ({report.tokens_written:,} tokens) embedded."
    )
    removed = sum(report.cleaning.lines.values())
    if removed:
        parts = ", ".join(f"{n} {rule}" for rule, n in sorted(report.cleaning.lines.items()))
        click.echo(f"Cleaning removed {removed} boilerplate lines ({parts}).")
    if report.near_duplicates:
        verb = "skipped" if report.near_duplicates[0].skipped else "kept"
        click.echo(f"{len(report.near_duplicates)} near-duplicate articles ({verb}):")
        for nd in report.near_duplicates[:20]:
            click.echo(f"  {nd.title[:70]!r} ~ {nd.of_key} (similarity {nd.similarity:.2f})")
        if len(report.near_duplicates) > 20:
            click.echo(f"  ... and {len(report.near_duplicates) - 20} more")
    if report.skipped_files:
        click.echo(f"{len(report.skipped_files)} files skipped (not an article format).")
    if report.errors:
        click.secho(f"{len(report.errors)} inputs could not be ingested:", fg="red", err=True)
        for err in report.errors:
            click.echo(f"  {err}", err=True)


@cli.command()
@click.option("--json", "as_json", is_flag=True, callback=_note_json, is_eager=True, help="Machine-readable output.")
@click.pass_context
def backends(ctx: click.Context, as_json: bool) -> None:
    """The registered embedders, generators and support judges: name, default model, the
    variable holding its key (and whether it is set), and which one the settings choose."""
    from rag.embed import EMBEDDERS
    from rag.generators import GENERATORS
    from rag.judges import JUDGES

    settings = _settings(ctx)
    rows = []
    for kind, registry, chosen in (("embedder", EMBEDDERS, settings.embed_backend),
                                   ("generator", GENERATORS, settings.generator),
                                   ("judge", JUDGES, settings.verifier)):
        for name in registry.names():
            backend = registry.get(name)
            key_env = getattr(settings, backend.key_setting) if backend.key_setting else None
            rows.append({"kind": kind, "name": name, "chosen": name == chosen,
                         "default_model": backend.default_model, "key_env": key_env,
                         "key_set": bool(key_env and os.environ.get(key_env)) if key_env else None})
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    for r in rows:
        key = f"key ${r['key_env']} ({'set' if r['key_set'] else 'not set'})" if r["key_env"] else ""
        model = f"default model {r['default_model']}" if r["default_model"] else ""
        mark = "*" if r["chosen"] else " "
        click.echo(f"{mark} {r['kind']:<9} {r['name']:<11} {'  '.join(x for x in (model, key) if x)}".rstrip())


@cli.command()
@click.option("--to-host", required=True, help="Chroma server to copy the corpus to.")
@click.option("--to-port", default=8000, show_default=True, type=int)
@click.option("--to-ssl", is_flag=True, help="Reach the target over TLS.")
@click.option("--to-corpus", help="Corpus name on the target (default: the same).")
@click.pass_context
def migrate(ctx: click.Context, to_host: str, to_port: int, to_ssl: bool, to_corpus: str | None) -> None:
    """Copy a corpus (chunks, vectors, metadata) to a Chroma server without re-embedding.

    The source is the corpus the settings name (usually the embedded store). The
    target's token is read from the variable `chroma_token_env` names. Safe to re-run.
    """
    from rag.store import ChunkStore

    source = _settings(ctx)
    target = source.model_copy(update={"chroma_host": to_host, "chroma_port": to_port, "chroma_ssl": to_ssl,
                                       "corpus": to_corpus or source.corpus})
    started = time.perf_counter()
    n = ChunkStore(source).copy_to(ChunkStore(target))
    click.echo(f"Copied {n:,} chunks of '{source.corpus}' to {to_host}:{to_port} as '{target.corpus}' "
               f"in {time.perf_counter() - started:.1f} s.")


@cli.command()
@click.option("--id", "ids", multiple=True, help="Article id (as given, or the stored key).")
@click.option("--url", "urls", multiple=True, help="Article URL.")
@click.option("--source", "sources", multiple=True, help="Every article of this source (outlet).")
@click.pass_context
def delete(ctx: click.Context, ids: tuple[str, ...], urls: tuple[str, ...], sources: tuple[str, ...]) -> None:
    """Delete articles by id, URL or source."""
    from rag.store import ChunkStore

    if not (ids or urls or sources):
        raise click.UsageError("Say what to delete: --id, --url or --source")
    store = ChunkStore(_settings(ctx))
    counts = [store.delete_article(value) for value in ids]
    counts += [store.delete_articles({"url": u}) for u in urls]
    counts += [store.delete_articles({"source": s}) for s in sources]
    total_articles, total_chunks = sum(a for a, _ in counts), sum(c for _, c in counts)
    click.echo(f"Deleted {total_articles} articles ({total_chunks} chunks).")
    if total_articles == 0:
        sys.exit(1)


@cli.command()
@click.option("--json", "as_json", is_flag=True, callback=_note_json, is_eager=True, help="Machine-readable output.")
@click.pass_context
def stats(ctx: click.Context, as_json: bool) -> None:
    """Articles, chunks, sources and date range of the corpus."""
    from rag.store import ChunkStore

    st = ChunkStore(_settings(ctx)).stats()
    if as_json:
        click.echo(json.dumps({**st.__dict__, "sources": dict(st.sources)}, indent=2))
        return
    click.echo(f"Corpus '{st.corpus}' ({st.embedder})")
    click.echo(f"  articles:  {st.articles}")
    click.echo(f"  chunks:    {st.chunks}")
    click.echo(f"  published: {st.first_published or '-'} .. {st.last_published or '-'}"
               + (f" ({st.undated} undated)" if st.undated else ""))
    click.echo(f"  near-duplicates: {st.near_duplicates}")
    click.echo(f"  sources ({len(st.sources)}):")
    for source, n in st.sources.most_common(10):
        click.echo(f"    {n:6d}  {source}")


def _filter_options(command: Callable[..., Any]) -> Callable[..., Any]:
    """The options that narrow which articles a question is answered from."""
    for option in reversed((
        click.option("--from", "date_from", type=click.DateTime(["%Y-%m-%d"]), help="Published on or after."),
        click.option("--to", "date_to", type=click.DateTime(["%Y-%m-%d"]), help="Published on or before."),
        click.option("--source", "sources", multiple=True, help="Only this source (repeatable)."),
        click.option("--as-of", type=click.DateTime(["%Y-%m-%d"]),
                     help="Reference date: favour news of the days before."),
    )):
        command = option(command)
    return command


def _filters(date_from: Any, date_to: Any, sources: tuple[str, ...], as_of: Any) -> Any:
    from rag.types import Filters

    return Filters(
        date_from=date_from.date() if date_from else None,
        date_to=date_to.date() if date_to else None,
        sources=sources,
        reference_date=as_of.date() if as_of else None,
    )


def _question(text: str) -> str:
    # `-` reads the question from stdin, so a script can pipe in one with any quoting.
    return sys.stdin.read() if text == "-" else text


@cli.command()
@click.argument("question")
@click.option("--generator", callback=_known_generator, help="extractive (default), openai or local.")
@_filter_options
@click.option("--json", "as_json", is_flag=True, callback=_note_json, is_eager=True, help="The whole Answer as JSON.")
@click.pass_context
def ask(
    ctx: click.Context,
    question: str,
    generator: str | None,
    date_from: Any,
    date_to: Any,
    sources: tuple[str, ...],
    as_of: Any,
    as_json: bool,
) -> None:
    """Answer QUESTION (`-`: read it from stdin) from the corpus, with verified citations.

    Exit status 3 when the articles do not answer it (a refusal), 1 on an error.
    """
    from rag.pipeline import Engine

    engine = Engine(_settings(ctx, generator=generator))
    answer = engine.ask(_question(question), filters=_filters(date_from, date_to, sources, as_of))
    if as_json:
        click.echo(json.dumps(answer.to_dict(), indent=2, default=str))
        if answer.refused:
            sys.exit(EXIT_REFUSED)
        return
    click.echo(answer.text)
    if answer.refused and answer.passages:
        click.echo("\nClosest passages:")
        for p in answer.passages:
            click.echo(f"  - {p.title} ({p.source or 'no source'}, {p.published or 'undated'}) {p.url}")
    for c in answer.citations:
        p = c.passage
        click.echo(f"\n[{c.n}] {p.title} ({p.source or 'no source'}, {p.published or 'undated'})")
        for start, end in c.spans:
            click.echo(f"    \u201c{p.text[start:end].strip()}\u201d")
        if c.deep_link:
            click.echo(f"    {c.deep_link}")
    dropped = [v for v in answer.sentences if v.status == "unsupported"]
    if dropped:
        click.echo(f"\n({len(dropped)} unsupported sentence(s) removed)")
    click.echo(f"\n[{answer.generator}, {answer.timings.get('total_ms', 0):.0f} ms]", err=True)
    if answer.refused:
        sys.exit(EXIT_REFUSED)


@cli.command()
@click.argument("query")
@click.option("-k", "k", type=click.IntRange(1, 50), default=8, show_default=True, help="Passages to show.")
@_filter_options
@click.option("--json", "as_json", is_flag=True, callback=_note_json, is_eager=True, help="The passages as JSON.")
@click.pass_context
def search(
    ctx: click.Context, query: str, k: int, date_from: Any, date_to: Any, sources: tuple[str, ...], as_of: Any,
    as_json: bool,
) -> None:
    """The passages retrieval finds for QUERY (`-`: read it from stdin), best first, as /api/search."""
    from rag.pipeline import Engine

    passages = Engine(_settings(ctx)).search(_question(query), _filters(date_from, date_to, sources, as_of), k)
    if as_json:
        click.echo(json.dumps({"ok": True, "passages": [p.__dict__ for p in passages]}, indent=2, default=str))
        return
    for p in passages:
        click.echo(f"[{p.n}] {p.title} ({p.source or 'no source'}, {p.published or 'undated'}) {p.url}")
        click.echo(f"    {' '.join(p.text.split())[:300]}")


@cli.command(name="eval")
@click.option("--gold", type=click.Path(dir_okay=False, path_type=Path),
              help="Gold set (JSONL); default: the bundled set over the sample article.")
@click.option("--corpus", help="Corpus to evaluate (as the global --corpus).")
@click.option("--generator", callback=_known_generator, help="extractive (default), openai or local.")
@click.option("--judge", callback=_known_judge, default="verifier", show_default=True,
              help="Support judge for citation metrics: the engine's own verifier, the other offline judge "
                   "(independent), one by name, or llm (the OpenAI-compatible endpoint of the settings, cached).")
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), default=Path("eval-out"), show_default=True)
@click.option("--baseline", type=click.Path(dir_okay=False, path_type=Path), help="summary.json of an earlier run.")
@click.option("--thresholds", type=click.Path(dir_okay=False, path_type=Path), help="TOML with a [min] table.")
@click.option("--limit", type=int, help="Only the first N questions.")
@click.option("--quiet", "-q", is_flag=True, help="No progress bar.")
@click.pass_context
def eval_command(
    ctx: click.Context,
    gold: Path | None,
    corpus: str | None,
    generator: str | None,
    judge: str,
    out: Path,
    baseline: Path | None,
    thresholds: Path | None,
    limit: int | None,
    quiet: bool,
) -> None:
    """Score answers against a gold set; exit 1 on a significant regression."""

    from evals import gate, report
    from evals.gold import load_gold, sample_gold
    from evals.judge import judge_note, make_judge
    from evals.run import run, summarize
    from rag.pipeline import Engine

    settings = _settings(ctx, generator=generator, corpus=corpus)
    gold_path = gold or sample_gold()
    questions = load_gold(gold_path)[:limit]
    engine = Engine(settings)
    supports = make_judge(judge, settings)
    from tqdm import tqdm

    started = time.perf_counter()
    with tqdm(total=len(questions), unit="question", disable=quiet or not sys.stderr.isatty(), file=sys.stderr) as bar:
        results = run(questions, engine, supports, progress=bar.update)
    summary = summarize(results)
    from evals.judge import agreement

    fit = agreement(supports)
    meta = {"gold": str(gold_path), "corpus": settings.corpus, "generator": engine.generator.name,
            "judge": judge, "verifier": settings.verifier, "citations_checked_by": judge_note(supports, settings),
            "seconds": round(time.perf_counter() - started, 1),
            "judge_agreement": f"precision {fit['precision']:.3f}, recall {fit['recall']:.3f}, "
            f"accuracy {fit['accuracy']:.3f} on {fit['pairs']} labelled pairs"}
    report.write(out, results, summary, meta)
    click.echo(report.markdown(summary, meta))
    click.echo(f"Wrote {out}/results.jsonl, summary.json, summary.md, report.html")
    old = json.loads(baseline.read_text()) if baseline else None
    failures = gate.check(summary, baseline=old, thresholds=gate.load_thresholds(thresholds) if thresholds else None)
    if failures:
        click.secho("Regression gate failed:", fg="red", err=True)
        for reason in failures:
            click.echo(f"  {reason}", err=True)
        sys.exit(1)


@cli.command()
@click.option("--limit", default=50, show_default=True, help="Newest N rows.")
@click.option("--rating", type=click.Choice(["up", "down", "comment"]), help="Only this kind.")
@click.option("--json", "as_json", is_flag=True, callback=_note_json, is_eager=True, help="Machine-readable output.")
@click.option("--export", "export", type=click.Path(dir_okay=False, path_type=Path),
              help="Write thumbs-up answers as gold-set candidates (JSONL for `rag eval --gold`).")
@click.pass_context
def feedback(ctx: click.Context, limit: int, rating: str | None, as_json: bool, export: Path | None) -> None:
    """List the thumbs up/down and comments people gave answers, or export them as gold candidates."""
    from dataclasses import asdict

    from ui.feedback import FeedbackStore

    store = FeedbackStore(_settings(ctx).feedback_path)
    if export is not None:
        n = store.export_gold(export)
        click.echo(f"Wrote {n} gold candidate(s) to {export}: review the answers, then `rag eval --gold {export}`.")
        return
    rows = store.list(limit, {"up": 1, "down": -1, "comment": 0}.get(rating or "", None))
    if as_json:
        click.echo(json.dumps([asdict(r) for r in rows], indent=2, ensure_ascii=False))
        return
    if not rows:
        click.echo("No feedback yet.")

    for r in rows:
        mark = {1: "+1", -1: "-1", 0: " ."}[r.rating]
        when = time.strftime("%Y-%m-%d %H:%M", time.localtime(r.created))
        click.echo(f"#{r.id} {mark} {when} [{r.corpus}] {r.question}")
        click.echo(f"      answer: {r.answer[:160]}")
        if r.comment:
            click.echo(f"      comment: {r.comment}")


@cli.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Interface to bind (keep localhost unless API keys are set).")
@click.option("--port", default=8000, show_default=True, type=int)
@click.pass_context
def serve(ctx: click.Context, host: str, port: int) -> None:
    """Serve the chat (at /), the /embed page and the HTTP API (schema at /docs and /openapi.json)."""
    import logging

    from ui.api import create_app
    from ui.server import run

    logging.basicConfig(level=logging.INFO, format="%(message)s")
    for noisy in ("httpx", "chromadb", "bm25s"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    settings = _settings(ctx)
    app = create_app(settings)
    click.echo(f"Chat on http://{host}:{port}/ (corpus '{settings.corpus}'); API docs at /docs. Ctrl+C stops.")
    run(app, settings, host, port)


def main() -> None:
    """Console entry point."""
    cli()


if __name__ == "__main__":
    main()
