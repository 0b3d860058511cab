"""Support judges for groundedness metrics: does a passage support a claim?

``verifier`` (default) is the answer engine's own deterministic judge, so runs
are identical and free; being the same check the engine's verifier applies, it
measures what survived verification, not an independent opinion.
``independent`` is the other offline judge (``lexical`` when the engine runs
``relations``, and the reverse), and the report says which judge checked. ``llm`` asks any OpenAI-compatible endpoint; its verdicts
are cached on disk by a hash of (model, claim, passage), so a rerun is
identical and makes no calls.
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections import Counter
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from rag.errors import BackendError, ConfigError
from rag.judges import JUDGES as ENGINE_JUDGES
from rag.judges import make_judge as engine_judge
from rag.openai_client import make_client, mapped_errors
from rag.settings import Settings
from rag.verify import Judgement, SupportJudge

PROMPT = """Passage:
\"\"\"{passage}\"\"\"

Claim: {claim}

Does the passage, on its own, support every part of the claim? Answer with one word: yes or no."""


class OfflineJudge(SupportJudge):
    """One of the engine's offline support judges, by its verifier name."""

    def __init__(self, verifier: str = "lexical") -> None:
        """``verifier``: 'lexical' (words) or 'relations' (words, then a dependency parse)."""
        self.name = verifier  # type: ignore[misc]
        self._judge = engine_judge(verifier)

    def judge(self, claim: str, passage: str) -> Judgement:
        """The engine's judgement."""
        return self._judge.judge(claim, passage)

    def prepare(self, pairs: Sequence[tuple[str, str]]) -> None:
        """Batch the engine judge's parsing."""
        self._judge.prepare(pairs)


class LLMJudge(SupportJudge):
    """An LLM's yes/no verdict, cached by content hash."""

    name = "llm"

    def __init__(self, settings: Settings, cache_path: Path, client: object | None = None) -> None:
        """Verdicts are read from and appended to ``cache_path`` (JSON lines)."""
        self.settings = settings
        self._client = client if client is not None else make_client(settings)
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

    def judge(self, claim: str, passage: str) -> Judgement:
        """The model's verdict on the whole passage (an LLM names no span)."""
        supported = self._verdict(claim, passage)
        return Judgement(supported, float(supported), (0, len(passage)), "the LLM judge said " +
                         ("yes" if supported else "no"))

    def _verdict(self, claim: str, passage: str) -> bool:
        key = self._key(claim, passage)
        with self._lock:
            if key in self._cache:
                return self._cache[key]
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


def judge_names() -> list[str]:
    """Names ``rag eval --judge`` takes: the eval's own, then every registered support judge."""
    return ["verifier", "independent", *ENGINE_JUDGES.names(), "llm"]


def make_judge(name: str, settings: Settings) -> SupportJudge:
    """The judge called ``name``: 'verifier' (the engine's own, as configured), 'independent'
    (the other offline judge than the engine's verifier), any support judge registered in
    :data:`rag.judges.JUDGES` ('lexical', 'relations', ...) or 'llm' ('offline' is an old name
    of 'verifier')."""
    if name in ("verifier", "offline"):
        return OfflineJudge(settings.verifier)
    if name == "independent":
        return OfflineJudge("lexical" if settings.verifier == "relations" else "relations")
    if name in ENGINE_JUDGES:
        return OfflineJudge(name)
    if name == "llm":
        return LLMJudge(settings, Path(settings.data_dir) / "judge-cache.jsonl")
    raise ConfigError(f"Unknown judge '{name}'; known: {', '.join(judge_names())}")


def judge_note(judge: SupportJudge, settings: Settings) -> str:
    """Which judge checked the citations, said plainly for the report."""
    if isinstance(judge, LLMJudge):
        return f"the LLM {settings.llm_model} (independent of the verifier, '{settings.verifier}')"
    if judge.name == settings.verifier:
        return (f"the '{judge.name}' judge, the same one that verified the answers: it confirms what "
                "verification kept and is not an independent check")
    return f"the '{judge.name}' judge, independent of the verifier ('{settings.verifier}') that kept the answers"


def agreement(supports: Callable[[str, str], bool], path: Path | None = None) -> dict[str, Any]:
    """The judge's precision, recall and accuracy on the labelled (claim, passage) fixture,
    and per kind of pair how many it got right ("9/9")."""
    from importlib import resources

    path = path or Path(str(resources.files("evals") / "support_pairs.jsonl"))
    # A fixture may open with an {"about": ...} record saying how it was made.
    pairs = [p for line in path.read_text().splitlines() if line.strip() and "claim" in (p := json.loads(line))]
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
