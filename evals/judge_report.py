"""The support judges on the labelled fixture: agreement per kind, and what each relation check is worth.

Usage::

    python -m evals.judge_report [--pairs evals/support_pairs.jsonl]

Prints, for the lexical judge and the relation judge, the share of faithful
claims kept and of wrong claims caught, per kind of pair; then, for each check
of the relation judge run alone after the word-level pass, how many wrong claims
it newly catches and how many faithful ones it newly loses. A check that loses
about as many as it catches has not earned its place.
"""

from __future__ import annotations

import argparse
import json
from importlib import resources
from pathlib import Path

from rag.relations import CHECKS, RelationJudge
from rag.verify import LexicalJudge, SupportJudge

SUPPORTED = ("paraphrase", "summary", "joined", "hedged", "verbatim")


def _pairs(path: Path) -> list[dict[str, object]]:
    return [p for line in path.read_text().splitlines() if line.strip() and "claim" in (p := json.loads(line))]


def _per_kind(judge: SupportJudge, pairs: list[dict[str, object]]) -> dict[str, tuple[int, int]]:
    out: dict[str, tuple[int, int]] = {}
    for p in pairs:
        right = judge.judge(str(p["claim"]), str(p["passage"])).supported == p["supported"]
        done, total = out.get(str(p["kind"]), (0, 0))
        out[str(p["kind"])] = (done + right, total + 1)
    return out


def main(argv: list[str] | None = None) -> None:
    """Print the figures."""
    ap = argparse.ArgumentParser(description="Support judges on the labelled fixture")
    ap.add_argument("--pairs", type=Path, default=Path(str(resources.files("evals") / "support_pairs.jsonl")))
    args = ap.parse_args(argv)
    pairs = _pairs(args.pairs)
    judges: dict[str, SupportJudge] = {"lexical": LexicalJudge(), "relations": RelationJudge()}
    table = {name: _per_kind(judge, pairs) for name, judge in judges.items()}
    kinds = sorted(table["lexical"], key=lambda k: (k not in SUPPORTED, k))
    print(f"{len(pairs)} pairs; share judged right per kind (faithful kinds: kept; wrong kinds: caught)\n")
    print("| kind | pairs | " + " | ".join(judges) + " |\n|---|---|" + "---|" * len(judges))
    for kind in kinds:
        total = table["lexical"][kind][1]
        print(f"| {kind} | {total} | " + " | ".join(f"{table[n][kind][0] / total:.2f}" for n in judges) + " |")
    for label, group in (("faithful kept", True), ("wrong caught", False)):
        cells = []
        for name in judges:
            done = sum(v[0] for k, v in table[name].items() if (k in SUPPORTED) == group)
            total = sum(v[1] for k, v in table[name].items() if (k in SUPPORTED) == group)
            cells.append(f"**{done / total:.3f}** ({done}/{total})")
        print(f"| {label} | | " + " | ".join(cells) + " |")

    first = LexicalJudge(negation=False)
    passed = [p for p in pairs if first.judge(str(p["claim"]), str(p["passage"])).supported]
    print(f"\nEach relation check alone, after the word-level pass ({len(passed)} pairs pass it):\n")
    print("| check | wrong claims newly caught | faithful claims newly lost |\n|---|---|---|")
    for name in CHECKS:
        judge = RelationJudge(checks=[name])
        flagged = [p for p in passed if not judge.judge(str(p["claim"]), str(p["passage"])).supported]
        print(f"| {name} | {sum(not p['supported'] for p in flagged)} | {sum(bool(p['supported']) for p in flagged)} |")


if __name__ == "__main__":
    main()
