"""Write an eval run: per-question JSONL, a JSON summary, a Markdown summary for
CI logs, and a self-contained HTML report (charts and per-question drill-down)."""

from __future__ import annotations

import html
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from evals.run import (
    ANSWERABILITY_GROUPS,
    BY_SOURCE_METRICS,
    METRICS,
    SOURCE_GROUPS,
    QuestionResult,
    as_jsonl_rows,
)
from rag.types import is_web_url


def write(out_dir: Path, results: Sequence[QuestionResult], summary: dict[str, Any], meta: dict[str, Any]) -> None:
    """Write results.jsonl, summary.json, summary.md, report.html and ragas.jsonl into ``out_dir``."""
    out_dir.mkdir(parents=True, exist_ok=True)
    with (out_dir / "results.jsonl").open("w") as fh:
        for row in as_jsonl_rows(results):
            fh.write(json.dumps(row, ensure_ascii=False, default=str) + "\n")
    (out_dir / "summary.json").write_text(json.dumps({"meta": meta, **summary}, indent=2, default=str))
    (out_dir / "summary.md").write_text(markdown(summary, meta))
    (out_dir / "report.html").write_text(html_report(results, summary, meta))
    with (out_dir / "ragas.jsonl").open("w") as fh:
        for row in ragas_rows(results):
            fh.write(json.dumps(row, ensure_ascii=False) + "\n")


def ragas_rows(results: Sequence[QuestionResult]) -> list[dict[str, Any]]:
    """The results as RAGAS single-turn samples (``EvaluationDataset.from_jsonl`` reads them):
    the question, the passages retrieved, the answer shown, the gold answer."""
    return [
        {
            "user_input": r.question,
            "retrieved_contexts": [p["text"] for p in r.answer.get("passages", [])],
            "response": r.answer.get("text", ""),
            "reference": r.answers[0] if r.answers else "",
        }
        for r in results
    ]


def fmt(v: float | None) -> str:
    """A share to three places, or n/a when it is not defined."""
    return "n/a" if v is None else f"{v:.3f}"


def _ci(ci: list[float] | None) -> str:
    return "" if ci is None else f"(95% CI {ci[0]:.3f} .. {ci[1]:.3f})"


def markdown(summary: dict[str, Any], meta: dict[str, Any]) -> str:
    """The summary as Markdown tables."""
    lines = [f"# Eval: {meta.get('gold', '')} ({summary['questions']} questions)", ""]
    lines += [f"- {k}: {v}" for k, v in meta.items()]
    lines += ["", "| metric | mean | 95% CI | n |", "|---|---|---|---|"]
    for name in METRICS:
        m = summary["metrics"].get(name)
        if m:
            lines.append(f"| {name} | {m['mean']:.3f} | {m['ci95'][0]:.3f} .. {m['ci95'][1]:.3f} | {m['n']} |")
    r = summary["refusal"]
    lines += [
        "",
        f"Refusals: precision {fmt(r['precision'])} {_ci(r['precision_ci95'])}, recall {fmt(r['recall'])} "
        f"{_ci(r['recall_ci95'])}, false-refusal rate {fmt(r['false_refusal_rate'])} "
        f"{_ci(r['false_refusal_rate_ci95'])} ({r['refused']} refused, {r['unanswerable']} unanswerable).",
        f"Claim-free answers (counted apart, never scored): {summary['claim_free_answers']}.",
        _sentences_line(summary.get("sentences")),
        "",
        "| | grounded | ungrounded |",
        "|---|---|---|",
        f"| correct | {summary['correct_x_grounded']['correct_grounded']} | "
        f"{summary['correct_x_grounded']['correct_ungrounded']} |",
        f"| incorrect | {summary['correct_x_grounded']['incorrect_grounded']} | "
        f"{summary['correct_x_grounded']['incorrect_ungrounded']} |",
        "",
        f"Latency: p50 {fmt(summary['latency_ms']['p50'])} ms, p95 {fmt(summary['latency_ms']['p95'])} ms.",
    ]
    lines += _by_answerability_lines(summary.get("by_answerability") or {})
    lines += _by_source_lines(summary.get("by_source") or {})
    return "\n".join(lines) + "\n"


def _by_answerability_lines(groups: dict[str, dict[str, float]]) -> list[str]:
    if not groups:
        return []
    names = dict(ANSWERABILITY_GROUPS)
    lines = [
        "",
        "Questions by whether the articles answer them (headline: answer in the question's own article):",
        "",
        "| questions | n | passages hold the answer | answer shown holds it | refused | refused with the answer retrieved |",
        "|---|---|---|---|---|---|",
    ]
    for key, row in groups.items():
        lines.append(f"| {names[key]} | {int(row['n'])} | {fmt(row.get('passages_hold'))} | "
                     f"{fmt(row.get('contains_gold'))} | {fmt(row['refused'])} | {fmt(row.get('refused_answer_retrieved'))} |")
    return lines


def _by_source_lines(by_source: dict[str, dict[str, float]]) -> list[str]:
    if not by_source:
        return []
    names = {key: label for key, _, label in SOURCE_GROUPS}
    cols = [("refused", "false refusals") if m == "refused" else (m, m) for m in BY_SOURCE_METRICS]
    lines = [
        "",
        "Answerable questions by whether their source article (gold URL) is in the corpus:",
        "",
        "| questions | n | " + " | ".join(label for _, label in cols) + " |",
        "|---" * (len(cols) + 2) + "|",
    ]
    for key, row in by_source.items():
        lines.append(f"| {names[key]} | {int(row['n'])} | " + " | ".join(fmt(row.get(m)) for m, _ in cols) + " |")
    return lines


_CSS = """body{font:14px/1.45 system-ui,sans-serif;margin:2em;max-width:1100px;color:#222}
table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ddd;padding:4px 8px;text-align:left}
.bar{background:#eee;width:320px;height:14px;position:relative}.fill{background:#3b7dd8;height:14px}
.ci{position:absolute;top:5px;height:4px;background:#222}details{margin:.3em 0;border:1px solid #eee;padding:.3em}
.supported,.reattached{color:#17692d}.unsupported{color:#a11;text-decoration:line-through}
.ok{color:#17692d}.bad{color:#a11}mark{background:#fff3a0}.src{color:#666;font-size:12px}
h2{margin-top:1.6em;border-bottom:1px solid #ddd}.lead{font-size:16px}.note{color:#555;max-width:760px}"""


_RETRIEVAL = [f"hit@{k}" for k in (1, 2, 5, 10)] + ["within_512", "within_1024", "within_2048", "mrr",
                                                      "evidence_recall"]
_ANSWER = ["contains_gold", "citation_recall", "citation_precision", "sentences_supported"]
_LEXICAL = ["exact_match", "token_f1"]
_LABELS = {
    "contains_gold": "answer shown holds the gold answer",
    "citation_recall": "citation recall (claims backed by what they cite)",
    "citation_precision": "citation precision (citations that back their claim)",
    "sentences_supported": "sentences kept by verification",
    "exact_match": "exact match", "token_f1": "token F1",
}


def html_report(results: Sequence[QuestionResult], summary: dict[str, Any], meta: dict[str, Any]) -> str:
    """A single HTML page with no external resources, for a person to read: what the
    articles let it answer first, then correctness, refusals and citations, retrieval,
    and each question's answer with its cited passages."""
    e = html.escape
    parts = [f"<h1>Eval report: {e(str(meta.get('gold', '')))}</h1>",
             f"<p class='lead'>{summary['questions']} questions. Citations checked by "
             f"{e(str(meta.get('citations_checked_by', meta.get('judge', 'the verifier'))))}.</p>"]
    groups = summary.get("by_answerability") or {}
    if groups:
        names = dict(ANSWERABILITY_GROUPS)
        parts.append("<h2>What the articles let it answer</h2><p>The headline row: questions whose answer "
                     "stands in their own article.</p>")
        parts.append(_table(["questions", "n", "passages hold the answer", "answer shown holds it", "refused",
                             "refused with the answer retrieved"],
                            [[names[k], int(r["n"]), fmt(r.get("passages_hold")), fmt(r.get("contains_gold")),
                              fmt(r["refused"]), fmt(r.get("refused_answer_retrieved"))] for k, r in groups.items()]))
    parts.append("<h2>Answers and citations</h2>")
    parts.append(_metric_table(summary, _ANSWER))
    r = summary["refusal"]
    parts.append("<h2>Refusals</h2>" + _table(
        ["", "value", "95% interval"],
        [["precision (refused questions that were unanswerable)", fmt(r["precision"]), _span(r["precision_ci95"])],
         ["recall (unanswerable questions refused)", fmt(r["recall"]), _span(r["recall_ci95"])],
         ["false refusals (answerable questions refused)", fmt(r["false_refusal_rate"]),
          _span(r["false_refusal_rate_ci95"])]]))
    parts.append(f"<p>{r['refused']} refused, {r['unanswerable']} unanswerable; "
                 f"{summary['claim_free_answers']} claim-free answers (counted apart, never scored).</p>")
    cg = summary["correct_x_grounded"]
    parts.append("<h3>Correct and grounded (answered, claim-bearing, answerable questions)</h3>" + _table(
        ["", "grounded", "ungrounded"],
        [["correct", cg["correct_grounded"], cg["correct_ungrounded"]],
         ["incorrect", cg["incorrect_grounded"], cg["incorrect_ungrounded"]]]))
    verification = _sentences_line(summary.get("sentences"))
    if verification:
        parts.append(f"<p>{e(verification)}</p>")
    lat = summary["latency_ms"]
    ms = {k: "n/a" if lat[k] is None else f"{lat[k]:,.0f}" for k in ("p50", "p95")}
    parts.append(f"<p>Latency per question: p50 {ms['p50']} ms, p95 {ms['p95']} ms.</p>")
    parts.append("<h2>Retrieval</h2>" + _metric_table(summary, _RETRIEVAL))
    by_source = summary.get("by_source") or {}
    if by_source:
        names_src = {key: label for key, _, label in SOURCE_GROUPS}
        parts.append("<h3>Answerable questions by whether their source article is in the corpus</h3>" + _table(
            ["questions", "n", *BY_SOURCE_METRICS],
            [[names_src[k], int(row["n"]), *(fmt(row.get(m)) for m in BY_SOURCE_METRICS)] for k, row in by_source.items()]))
    parts.append("<h2>Exact match and token F1</h2><p class='note'>Answers here are sentences quoted from "
                 "the articles, so they never equal a short gold answer word for word: these two stay low "
                 "even when the answer is right. They are kept for comparison with systems that answer in "
                 "a few words; read correctness from the figures above.</p>" + _metric_table(summary, _LEXICAL))
    parts.append("<h2>Run</h2>" + _table(["setting", "value"], [[k, str(v)] for k, v in meta.items()]))
    parts.append("<h2>Questions</h2>" + "".join(_question_html(r) for r in results))
    return (f"<!doctype html><html><head><meta charset='utf-8'><title>Eval report</title><style>{_CSS}</style>"
            f"</head><body>{''.join(parts)}</body></html>")


def _table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    e = html.escape
    head = "".join(f"<th>{e(str(h))}</th>" for h in headers)
    body = "".join("<tr>" + "".join(f"<td>{c if isinstance(c, _Raw) else e(str(c))}</td>" for c in row) + "</tr>"
                   for row in rows)
    return f"<table><tr>{head}</tr>{body}</table>"


class _Raw(str):
    """Markup built here from escaped parts, put in a table cell as it is."""


def _span(ci: list[float] | None) -> str:
    return "n/a" if ci is None else f"{ci[0]:.3f} .. {ci[1]:.3f}"


def _metric_table(summary: dict[str, Any], names: Sequence[str]) -> str:
    rows = []
    for name in names:
        m = summary["metrics"].get(name)
        if not m:
            continue
        lo, hi = m["ci95"]
        bar = _Raw(f"<div class='bar'><div class='fill' style='width:{100 * m['mean']:.1f}%'></div>"
                   f"<div class='ci' style='left:{100 * lo:.1f}%;width:{100 * (hi - lo):.1f}%'></div></div>")
        rows.append([_LABELS.get(name, name), f"{m['mean']:.3f}", f"{lo:.3f} .. {hi:.3f}", m["n"], bar])
    return _table(["metric", "mean", "95% interval", "n", ""], rows) if rows else "<p>n/a</p>"


def _question_html(r: QuestionResult) -> str:
    e = html.escape
    a = r.answer
    ok = r.metrics.get("contains_gold")
    status = "refused" if a["refused"] else ("correct" if ok else ("n/a" if ok is None else "incorrect"))
    css = "ok" if status == "correct" or (status == "refused" and not r.answerable) else "bad"
    sentences = "".join(
        f"<li class='{e(s['status'])}'>{e(s['text'])} [{', '.join(map(str, s['citations']))}] "
        f"<span class='src'>{e(s['status'])} {e(s['reason'])}</span></li>"
        for s in a["sentences"]
    )
    cites = []
    for c in a["citations"]:
        p = c["passage"]
        text = p["text"]
        marked, last = [], 0
        for start, end in c["spans"]:
            marked.append(e(text[last:start]) + "<mark>" + e(text[start:end]) + "</mark>")
            last = end
        marked.append(e(text[last:]))
        # Only web links: results.jsonl holds articles' URLs, which are data ("javascript:..." too).
        link = f" <a href='{e(c['deep_link'])}'>source</a>" if is_web_url(c.get("deep_link")) else ""
        cites.append(
            f"<p><b>[{c['n']}]</b> {e(p['title'])} <span class='src'>{e(p['source'])} {e(p['published'])}"
            f"</span>{link}<br>{''.join(marked)}</p>"
        )
    metrics = ", ".join(f"{k} {v:.2f}" for k, v in r.metrics.items() if v is not None)
    return (
        f"<details><summary><span class='{css}'>{e(status)}</span> {e(r.id)}: {e(r.question)}</summary>"
        f"<p><b>Gold:</b> {e(' / '.join(r.answers))}{'' if r.answerable else ' (unanswerable)'}</p>"
        f"<p><b>Answer:</b> {e(a['text'])}</p><ul>{sentences}</ul>{''.join(cites)}"
        f"<p class='src'>{e(metrics)}</p></details>"
    )


def _sentences_line(counts: dict[str, int] | None) -> str:
    """What verification did to the generator's sentences (absent in older summaries)."""
    if not counts:
        return ""
    return (f"Verification: {counts['generated']} generated sentences, {counts['removed']} removed as unsupported, "
            f"{counts['reattached']} re-attached to another passage; "
            f"{counts['answers_refused_after_verification']} answers became refusals because nothing survived.")
