"""Live `rag` processes for the tests that meet the product as a user does: the CLI in a
subprocess and `rag serve` on a free loopback port."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import httpx

from evals.bench_server import free_port


def rag_cli(data: Path, *args: str, env: dict[str, str] | None = None, **kw: object) -> subprocess.Popen[bytes]:
    """``rag --data-dir DATA --corpus apitest ARGS`` in a subprocess, with no RAG_* from the caller's shell."""
    base = [sys.executable, "-m", "ui.cli", "--data-dir", str(data), "--corpus", "apitest"]
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("RAG_")} | {"HF_HUB_OFFLINE": "1"} | (env or {})
    return subprocess.Popen(base + list(args), env=full_env, **kw)  # type: ignore[call-overload]


def serve(data: Path, log: Path, env: dict[str, str] | None = None) -> tuple[subprocess.Popen[bytes], str]:
    """Start ``rag serve`` on a free port; returns the process and its base URL once it answers."""
    port = free_port()
    proc = rag_cli(data, "serve", "--port", str(port), env=env, stdout=log.open("w"), stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        assert proc.poll() is None, log.read_text()
        try:
            httpx.get(f"{url}/openapi.json", timeout=1)
            return proc, url
        except httpx.HTTPError:
            time.sleep(0.3)
    raise RuntimeError("server did not start")
