"""Support judges for groundedness metrics: does a passage support a claim?

``offline`` (default) is the answer engine's deterministic lexical judge, so
runs are identical and free; note that it is the same check the engine's
verifier applies, so it measures what survived verification, not an
independent opinion. ``llm`` asks any OpenAI-compatible endpoint; its verdicts
are cached on disk by a hash of (model, claim, passage), so a rerun is
identical and makes no calls.
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

from rag.errors import BackendError, ConfigError
from rag.settings import Settings
from rag.verify import LexicalJudge

PROMPT = """Passage:
\"\"\"{passage}\"\"\"

Claim: {claim}

Does the passage, on its own, support every part of the claim? Answer with one word: yes or no."""


class OfflineJudge:
    """The engine's lexical judge as a yes/no function."""

    name = "offline"

    def __init__(self) -> None:
        """No state beyond the judge's thresholds."""
        self._judge = LexicalJudge()

    def __call__(self, claim: str, passage: str) -> bool:
        """True if ``passage`` supports ``claim``."""
        return self._judge.judge(claim, passage).supported


class LLMJudge:
    """An LLM's yes/no verdict, cached by content hash."""

    name = "llm"

    def __init__(self, settings: Settings, cache_path: Path, client: object | None = None) -> None:
        """Verdicts are read from and appended to ``cache_path`` (JSON lines)."""
        from rag.generators import OpenAIGenerator

        self.settings = settings
        self._client = OpenAIGenerator(settings=settings, client=client).client
        self.cache_path = cache_path
        self._cache: dict[str, bool] = {}
        self._lock = threading.Lock()
        self.calls = 0
        if cache_path.exists():
            for line in cache_path.read_text().splitlines():
                rec = json.loads(line)
                self._cache[rec["key"]] = bool(rec["supported"])

    def _key(self, claim: str, passage: str) -> str:
        basis = json.dumps([self.settings.llm_model, claim, passage], ensure_ascii=False)
        return hashlib.sha256(basis.encode()).hexdigest()

    def __call__(self, claim: str, passage: str) -> bool:
        """True if the model says ``passage`` supports ``claim``."""
        key = self._key(claim, passage)
        with self._lock:
            if key in self._cache:
                return self._cache[key]
        from rag.generators import mapped_errors

        with mapped_errors(self.settings):
            res = self._client.chat.completions.create(  # type: ignore[attr-defined]
                model=self.settings.llm_model,
                messages=[{"role": "user", "content": PROMPT.format(passage=passage, claim=claim)}],
                max_tokens=3,
                temperature=0.0,
            )
        self.calls += 1
        word = (res.choices[0].message.content or "").strip().lower()
        if not word.startswith(("yes", "no")):
            raise BackendError(f"The judge answered {word[:40]!r}, not yes or no")
        verdict = word.startswith("yes")
        with self._lock:
            self._cache[key] = verdict
            self.cache_path.parent.mkdir(parents=True, exist_ok=True)
            with self.cache_path.open("a") as fh:
                fh.write(json.dumps({"key": key, "supported": verdict}) + "\n")
        return verdict


def make_judge(name: str, settings: Settings) -> OfflineJudge | LLMJudge:
    """The judge called ``name``: 'offline' or 'llm'."""
    if name == "offline":
        return OfflineJudge()
    if name == "llm":
        return LLMJudge(settings, Path(settings.data_dir) / "judge-cache.jsonl")
    raise ConfigError(f"Unknown judge '{name}'; known: offline, llm")


def agreement(supports: Callable[[str, str], bool], path: Path | None = None) -> dict[str, Any]:
    """The judge's precision, recall and accuracy on the labelled (claim, passage) fixture,
    and per kind of pair how many it got right ("9/9")."""
    from importlib import resources

    path = path or Path(str(resources.files("evals") / "verifier_pairs.jsonl"))
    pairs = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    tp = fp = fn = correct = 0
    right: Counter[str] = Counter()
    totals: Counter[str] = Counter()
    for p in pairs:
        got = supports(p["claim"], p["passage"])
        tp += got and p["supported"]
        fp += got and not p["supported"]
        fn += (not got) and p["supported"]
        correct += got == p["supported"]
        totals[p.get("kind", "")] += 1
        right[p.get("kind", "")] += got == p["supported"]
    return {
        "pairs": len(pairs),
        "precision": tp / (tp + fp) if tp + fp else 0.0,
        "recall": tp / (tp + fn) if tp + fn else 0.0,
        "accuracy": correct / len(pairs),
        "per_kind": {k: f"{right[k]}/{n}" for k, n in totals.items()},
    }
