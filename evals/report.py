"""Write an eval run: per-question JSONL, a JSON summary, a Markdown summary for
CI logs, and a self-contained HTML report (charts and per-question drill-down)."""

from __future__ import annotations

import html
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from evals.run import ANSWERABILITY_GROUPS, BY_SOURCE_METRICS, METRICS, SOURCE_GROUPS, QuestionResult, as_jsonl_rows


def write(out_dir: Path, results: Sequence[QuestionResult], summary: dict[str, Any], meta: dict[str, Any]) -> None:
    """Write results.jsonl, summary.json, summary.md and report.html into ``out_dir``."""
    out_dir.mkdir(parents=True, exist_ok=True)
    with (out_dir / "results.jsonl").open("w") as fh:
        for row in as_jsonl_rows(results):
            fh.write(json.dumps(row, ensure_ascii=False, default=str) + "\n")
    (out_dir / "summary.json").write_text(json.dumps({"meta": meta, **summary}, indent=2, default=str))
    (out_dir / "summary.md").write_text(markdown(summary, meta))
    (out_dir / "report.html").write_text(html_report(results, summary, meta))


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
.ok{color:#17692d}.bad{color:#a11}mark{background:#fff3a0}.src{color:#666;font-size:12px}"""


def html_report(results: Sequence[QuestionResult], summary: dict[str, Any], meta: dict[str, Any]) -> str:
    """A single HTML file with no external resources."""
    e = html.escape
    rows = []
    for name in METRICS:
        m = summary["metrics"].get(name)
        if not m:
            continue
        lo, hi = m["ci95"]
        rows.append(
            f"<tr><td>{e(name)}</td><td>{m['mean']:.3f}</td><td>{lo:.3f} .. {hi:.3f}</td><td>{m['n']}</td>"
            f"<td><div class='bar'><div class='fill' style='width:{100 * m['mean']:.1f}%'></div>"
            f"<div class='ci' style='left:{100 * lo:.1f}%;width:{100 * (hi - lo):.1f}%'></div></div></td></tr>"
        )
    questions = []
    for r in results:
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
            link = f" <a href='{e(c['deep_link'])}'>source</a>" if c.get("deep_link") else ""
            cites.append(
                f"<p><b>[{c['n']}]</b> {e(p['title'])} <span class='src'>{e(p['source'])} {e(p['published'])}"
                f"</span>{link}<br>{''.join(marked)}</p>"
            )
        metrics = ", ".join(f"{k} {v:.2f}" for k, v in r.metrics.items() if v is not None)
        questions.append(
            f"<details><summary><span class='{css}'>{e(status)}</span> {e(r.id)}: {e(r.question)}</summary>"
            f"<p><b>Gold:</b> {e(' / '.join(r.answers))}{'' if r.answerable else ' (unanswerable)'}</p>"
            f"<p><b>Answer:</b> {e(a['text'])}</p><ul>{sentences}</ul>{''.join(cites)}"
            f"<p class='src'>{e(metrics)}</p></details>"
        )
    md = e(markdown(summary, meta))
    return (
        f"<!doctype html><html><head><meta charset='utf-8'><title>Eval report</title><style>{_CSS}</style>"
        f"</head><body><h1>Eval report</h1><pre>{md}</pre>"
        f"<h2>Metrics (mean, 95% bootstrap CI)</h2><table><tr><th>metric</th><th>mean</th><th>95% CI</th>"
        f"<th>n</th><th></th></tr>{''.join(rows)}</table>"
        f"<h2>Questions</h2>{''.join(questions)}</body></html>"
    )


def _sentences_line(counts: dict[str, int] | None) -> str:
    """What verification did to the generator's sentences (absent in older summaries)."""
    if not counts:
        return ""
    return (f"Verification: {counts['generated']} generated sentences, {counts['removed']} removed as unsupported, "
            f"{counts['reattached']} re-attached to another passage; "
            f"{counts['answers_refused_after_verification']} answers became refusals because nothing survived.")
