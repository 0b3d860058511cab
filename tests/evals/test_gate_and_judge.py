"""Regression gate on hand-made summaries; the LLM judge's content-hash cache."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import openai
import pytest

from evals.gate import check, load_thresholds
from evals.judge import LLMJudge, OfflineJudge
from rag.errors import BackendError, ConfigError
from rag.settings import load_settings


def _summary(values: dict[str, list[float]], refusal_recall: float = 1.0) -> dict[str, object]:
    n = len(next(iter(values.values())))
    per_q = {f"q{i}": {k: v[i] for k, v in values.items()} for i in range(n)}
    metrics = {k: {"mean": sum(v) / n, "ci95": [0, 1], "n": n} for k, v in values.items()}
    return {"metrics": metrics, "per_question": per_q, "refusal": {"precision": 1.0, "recall": refusal_recall}}


def test_significant_paired_drop_fails_small_noise_passes() -> None:
    old = _summary({"contains_gold": [1.0] * 40, "hit@5": [1.0] * 20 + [0.0] * 20})
    dropped = _summary({"contains_gold": [1.0] * 20 + [0.0] * 20, "hit@5": [1.0] * 20 + [0.0] * 20})
    failures = check(dropped, baseline=old)
    assert len(failures) == 1 and failures[0].startswith("contains_gold: dropped by 0.500 over 40 paired")
    noisy = _summary({"contains_gold": [1.0] * 39 + [0.0], "hit@5": [1.0] * 20 + [0.0] * 20})
    assert check(noisy, baseline=old) == []


def test_fewer_refusals_is_not_a_drop() -> None:
    old = _summary({"refused": [1.0] * 10})
    new = _summary({"refused": [0.0] * 10})
    assert check(new, baseline=old) == []


def test_thresholds(tmp_path: Path) -> None:
    path = tmp_path / "t.toml"
    path.write_text('[min]\ncontains_gold = 0.9\nrefusal_recall = 0.8\n"hit@5" = 0.1\n')
    th = load_thresholds(path)
    failures = check(_summary({"contains_gold": [1.0, 0.0], "hit@5": [1.0, 1.0]}, refusal_recall=0.5), thresholds=th)
    assert failures == ["contains_gold: 0.500 is under the threshold 0.900",
                        "refusal_recall: 0.500 is under the threshold 0.800"]
    path.write_text("[min]\nx = 'high'\n")
    with pytest.raises(ConfigError, match=r"\[min\]"):
        load_thresholds(path)


def test_offline_judge() -> None:
    judge = OfflineJudge()
    assert judge("Security forces killed 22 militants.", "Security forces killed 22 militants on Monday.")
    assert not judge("Security forces killed 25 militants.", "Security forces killed 22 militants on Monday.")


def _llm(tmp_path: Path, replies: list[str]) -> tuple[LLMJudge, list[dict[str, object]]]:
    seen: list[dict[str, object]] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(json.loads(request.content))
        return httpx.Response(200, json={"id": "x", "object": "chat.completion", "created": 0, "model": "m",
                                         "choices": [{"index": 0, "finish_reason": "stop",
                                                      "message": {"role": "assistant", "content": replies.pop(0)}}]})

    client = openai.OpenAI(api_key="k", base_url="http://judge.test/v1", max_retries=0,
                           http_client=httpx.Client(transport=httpx.MockTransport(handler)))
    settings = load_settings(openai_base_url="http://judge.test/v1", llm_model="judge-1")
    return LLMJudge(settings, tmp_path / "cache.jsonl", client=client), seen


def test_llm_judge_caches_by_content(tmp_path: Path) -> None:
    judge, seen = _llm(tmp_path, ["Yes.", "no"])
    assert judge("claim A", "passage") is True
    assert judge("claim A", "passage") is True  # cached: no second call
    assert judge("claim B", "passage") is False
    assert len(seen) == 2 and judge.calls == 2
    assert "claim A" in str(seen[0]["messages"]) and seen[0]["temperature"] == 0.0
    # A new run reads the cache from disk and makes no call at all.
    again, seen_again = _llm(tmp_path, [])
    assert again("claim A", "passage") is True and again("claim B", "passage") is False
    assert seen_again == []


def test_llm_judge_rejects_unparseable_verdicts(tmp_path: Path) -> None:
    judge, _ = _llm(tmp_path, ["Well, it depends"])
    with pytest.raises(BackendError, match="not yes or no"):
        judge("claim", "passage")
