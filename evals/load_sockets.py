"""The load test's raw-socket stress (:mod:`evals.load`): slow clients that read an answer one
byte a second, idle connections (silent, half a request line, headers without their end), new
connections once a second, and a monitor of the server's side of each (TCP queues from
``/proc/net/tcp``, its open files and threads)."""

from __future__ import annotations

import asyncio
import json
import os
import socket
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from evals.gold import GoldQuestion

SLOW_S = 10.0


@dataclass
class Probe:
    """What the stress saw: slow clients, idle sockets, the ingest, the server's resources."""

    slow: list[dict[str, Any]] = field(default_factory=list)
    idle: list[dict[str, Any]] = field(default_factory=list)
    ingest: dict[str, Any] = field(default_factory=dict)
    server: dict[str, list[tuple[float, int, int]]] = field(default_factory=dict)  # phase: (t, fds, threads)


_TCP_STATES = {"01": "ESTABLISHED", "02": "SYN_SENT", "03": "SYN_RECV", "04": "FIN_WAIT1", "05": "FIN_WAIT2",
               "06": "TIME_WAIT", "07": "CLOSE", "08": "CLOSE_WAIT", "09": "LAST_ACK", "0A": "LISTEN",
               "0B": "CLOSING"}


def _tcp_table() -> dict[tuple[int, int], tuple[str, int, int]]:
    """Loopback TCP sockets by (local port, remote port): state, send queue, receive queue."""
    out: dict[tuple[int, int], tuple[str, int, int]] = {}
    for name in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(name).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            f = line.split()
            tx, rx = (int(x, 16) for x in f[4].split(":"))
            key = (int(f[1].rsplit(":", 1)[1], 16), int(f[2].rsplit(":", 1)[1], 16))
            out[key] = (_TCP_STATES.get(f[3], f[3]), tx, rx)
    return out


def _dechunk(body: bytes) -> tuple[bytes, bool]:
    """A chunked body's data, and whether its last (empty) chunk arrived."""
    out, pos = bytearray(), 0
    while True:
        end = body.find(b"\r\n", pos)
        if end < 0:
            return bytes(out), False
        try:
            size = int(body[pos:end].split(b";")[0], 16)
        except ValueError:
            return bytes(out), False
        if size == 0:
            return bytes(out), True
        out += body[end + 2 : end + 2 + size]
        pos = end + 2 + size + 2
        if pos > len(body):
            return bytes(out), False


async def slow_client(host: str, port: int, q: GoldQuestion, user: str, t0: float, deadline: float,
                       info: dict[str, Any]) -> dict[str, Any]:
    """Ask one streamed question and read the answer one byte a second until ``deadline``; then
    read the rest at once (at most 10 s) and say, in ``info``, what arrived."""
    loop = asyncio.get_running_loop()
    body = json.dumps({"question": q.question, "stream": True, "filters": {"reference_date": q.question_date}})
    request = (f"POST /api/ask HTTP/1.1\r\nHost: {host}:{port}\r\nContent-Type: application/json\r\n"
               f"Accept: text/event-stream\r\nX-Forwarded-For: {user}\r\nContent-Length: {len(body.encode())}\r\n\r\n"
               f"{body}").encode()
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    # A small receive window before connecting, so the server's writes meet back-pressure.
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 2048)
    sock.setblocking(False)
    info.update(question=q.id, started_s=round(time.monotonic() - t0, 2))
    got = bytearray()
    opened = time.monotonic()
    try:
        await asyncio.wait_for(loop.sock_connect(sock, (host, port)), 10)
        info["local_port"] = sock.getsockname()[1]
        await loop.sock_sendall(sock, request)
        eof = False
        while (remaining := deadline - time.monotonic()) > 0:
            try:
                byte = await asyncio.wait_for(loop.sock_recv(sock, 1), remaining)
            except (TimeoutError, asyncio.TimeoutError):
                break
            if not byte:
                eof = True
                break
            if not got:
                info["first_byte_s"] = round(time.monotonic() - opened, 2)
            got += byte
            await asyncio.sleep(min(1.0, max(0.0, deadline - time.monotonic())))
        info["read_slowly_bytes"] = len(got)
        info["read_slowly_s"] = round(time.monotonic() - opened, 1)
        try:
            import fcntl
            import termios
            info["queued_at_client_bytes"] = int.from_bytes(
                fcntl.ioctl(sock.fileno(), termios.FIONREAD, b"\0\0\0\0"), "little")
        except OSError:
            pass
        # The rest at once: the answer must be whole, and the connection must end cleanly.
        drain_end = time.monotonic() + 10
        while not eof and (remaining := drain_end - time.monotonic()) > 0:
            try:
                chunk = await asyncio.wait_for(loop.sock_recv(sock, 65536), remaining)
            except (TimeoutError, asyncio.TimeoutError):
                break
            if not chunk:
                eof = True
                break
            got += chunk
            head_end = got.find(b"\r\n\r\n")
            if head_end >= 0 and _dechunk(bytes(got[head_end + 4 :]))[1] and not info.get("complete_s"):
                info["complete_s"] = round(time.monotonic() - opened, 1)
                drain_end = min(drain_end, time.monotonic() + 1)  # a moment for the server's close
        info["server_closed"] = eof
    except ConnectionError as exc:
        info["reset"] = f"{type(exc).__name__}: {exc}"
    except (TimeoutError, asyncio.TimeoutError, OSError) as exc:
        info["failed"] = f"{type(exc).__name__}: {exc}"
    finally:
        sock.close()
    head, _, rest = bytes(got).partition(b"\r\n\r\n")
    status_line = head.split(b"\r\n", 1)[0].decode("latin-1")
    data, ended = _dechunk(rest) if b"chunked" in head.lower() else (rest, True)
    info.update(total_bytes=len(got), status=status_line,
                whole=ended and b"event: answer" in data and b"event: error" not in data)
    return info


PARTIALS = {"silent": b"", "partial-line": b"GET /healthz HT",
             "partial-headers": b"POST /api/ask HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"}


async def open_idle(host: str, port: int, n: int, t0: float) -> list[dict[str, Any]]:
    """``n`` connections that send nothing, half a request line, or headers without their end."""
    loop = asyncio.get_running_loop()
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    kinds = list(PARTIALS)

    async def one(i: int) -> dict[str, Any]:
        kind = kinds[i % len(kinds)]
        sock = socket.socket(family, socket.SOCK_STREAM)
        sock.setblocking(False)
        conn: dict[str, Any] = {"kind": kind, "sock": sock}
        try:
            await asyncio.wait_for(loop.sock_connect(sock, (host, port)), 10)
            if PARTIALS[kind]:
                await loop.sock_sendall(sock, PARTIALS[kind])
            conn["opened"] = time.monotonic() - t0
        except (OSError, TimeoutError, asyncio.TimeoutError) as exc:
            conn["failed"] = f"{type(exc).__name__}: {exc}"
            sock.close()
        return conn

    return list(await asyncio.gather(*(one(i) for i in range(n))))


def _check_idle(conns: Iterable[dict[str, Any]], now: float) -> None:
    """Note the idle connections the server closed, reset or answered since the last look."""
    for c in conns:
        if "opened" not in c or "ended" in c:
            continue
        try:
            peek = c["sock"].recv(256, socket.MSG_PEEK | socket.MSG_DONTWAIT)
        except BlockingIOError:
            continue
        except OSError as exc:
            c.update(ended="reset", after_s=now - c["opened"], detail=type(exc).__name__)
            continue
        if peek:  # the server said something (a 400, a 408): keep its status line
            c.update(ended="answered", after_s=now - c["opened"], detail=peek.split(b"\r\n", 1)[0].decode("latin-1"))
        else:
            c.update(ended="closed", after_s=now - c["opened"])


async def fresh_connections(url: str, t0: float, deadline: float) -> list[tuple[float, float, str]]:
    """Once a second, ``GET /healthz`` on a new connection: can a new user still get in? Returns
    (start, seconds, "" or the failure) of each."""
    out: list[tuple[float, float, str]] = []
    while (now := time.monotonic()) < deadline:
        failure = ""
        try:
            async with httpx.AsyncClient(base_url=url, timeout=SLOW_S) as client:  # a new connection each time
                res = await client.get("/healthz")
                if res.status_code != 200:
                    failure = f"status {res.status_code}"
        except httpx.HTTPError as exc:
            failure = f"{type(exc).__name__}: {exc}"
        out.append((now - t0, time.monotonic() - now, failure))
        await asyncio.sleep(max(0.0, 1.0 - (time.monotonic() - now)))
    return out


def server_sample(pid: int) -> tuple[int, int]:
    """The server's open file descriptors and threads."""
    fds = len(os.listdir(f"/proc/{pid}/fd"))
    threads = next((int(line.split()[1]) for line in Path(f"/proc/{pid}/status").read_text().splitlines()
                    if line.startswith("Threads:")), -1)
    return fds, threads


async def monitor(probe: Probe, slow: list[dict[str, Any]], server_port: int, idle: list[dict[str, Any]],
                   pid: int | None, t0: float, stress_at: float, deadline: float) -> None:
    """Every half second: idle sockets' fate, the slow clients' TCP queues (the server's side of
    each connection: its send queue, and when it closed), the server's fds and threads."""
    while time.monotonic() < deadline:
        now = time.monotonic() - t0
        _check_idle(idle, now)
        if pid:
            try:
                fds, threads = server_sample(pid)
                probe.server.setdefault("stressed" if now >= stress_at else "baseline", []).append((now, fds, threads))
            except OSError:
                pass
        if any("local_port" in s for s in slow):
            table = _tcp_table()
            for s in slow:
                state = table.get((server_port, s.get("local_port", -1)))
                if state is None or "total_bytes" in s:  # not connected yet, or done
                    continue
                s["server_send_queue_max"] = max(s.get("server_send_queue_max", 0), state[1])
                if state[0] != "ESTABLISHED" and "server_closed_at_s" not in s:
                    s.update(server_state=state[0], server_closed_at_s=round(now, 1))
        await asyncio.sleep(0.5)
