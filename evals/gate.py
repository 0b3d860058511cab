"""Regression gate: fail a run that drops significantly against a baseline, or
falls under configured thresholds.

The comparison is paired: for each metric, the per-question differences
(new - old) over the questions both runs scored are bootstrapped; a drop is
significant when the whole 95% interval of the mean difference lies below zero.
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

from evals.metrics import bootstrap_ci
from evals.run import METRICS
from rag.errors import ConfigError

# Refusal figures live outside "metrics" in the summary; thresholds may name them.
_REFUSAL_KEYS = {"refusal_precision": "precision", "refusal_recall": "recall"}


def load_thresholds(path: Path | str) -> dict[str, float]:
    """Minimum values per metric, from a TOML file's ``[min]`` table."""
    try:
        data = tomllib.loads(Path(path).read_text())
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"Cannot read thresholds {path}: {exc}") from None
    table = data.get("min", {})
    if not isinstance(table, dict) or not all(isinstance(v, (int, float)) for v in table.values()):
        raise ConfigError(f"{path}: [min] must map metric names to numbers")
    return {str(k): float(v) for k, v in table.items()}


def _value(summary: dict[str, Any], name: str) -> float | None:
    if name in _REFUSAL_KEYS:
        v = summary.get("refusal", {}).get(_REFUSAL_KEYS[name])
        return float(v) if v is not None else None
    entry = summary.get("metrics", {}).get(name)
    return float(entry["mean"]) if entry else None


def check(
    summary: dict[str, Any], *, baseline: dict[str, Any] | None = None, thresholds: dict[str, float] | None = None
) -> list[str]:
    """Reasons to fail the run (empty if it passes)."""
    failures: list[str] = []
    for name, minimum in (thresholds or {}).items():
        value = _value(summary, name)
        if value is None:
            failures.append(f"{name}: not measured, threshold {minimum:.3f}")
        elif value < minimum:
            failures.append(f"{name}: {value:.3f} is under the threshold {minimum:.3f}")
    if baseline is not None:
        new_q, old_q = summary.get("per_question", {}), baseline.get("per_question", {})
        shared = sorted(set(new_q) & set(old_q))
        # Only metrics where higher is better; a change in how often we refuse is not a drop.
        names = sorted(
            ({k for q in shared for k in new_q[q]} & {k for q in shared for k in old_q[q]}) & set(METRICS)
        )
        for name in names:
            diffs = [new_q[q][name] - old_q[q][name] for q in shared if name in new_q[q] and name in old_q[q]]
            if len(diffs) < 2:
                continue
            mean, lo, hi = bootstrap_ci(diffs)
            if hi < 0:
                failures.append(
                    f"{name}: dropped by {-mean:.3f} over {len(diffs)} paired questions "
                    f"(95% CI of the change {lo:+.3f} .. {hi:+.3f})"
                )
    return failures
