"""Running the app under uvicorn for many clients: what uvicorn does not do by itself.

uvicorn times out only keep-alive connections that sit idle after an answer: a connection that
never sends a whole request (silent, or half a request line) is kept for ever, each holding a
file descriptor. A few hundred of them used up a server's open-files limit, then new users were
refused and Chroma's embedded client failed for want of files (found by ``evals/load.py``). So
connections get ``header_timeout`` seconds to send each request's head, and the process takes
the hard open-files limit rather than the soft one (often 1,024).
"""

from __future__ import annotations

import asyncio
import logging
import resource
from typing import Any

from rag.settings import Settings

log = logging.getLogger("rag.api")


def run(app: Any, settings: Settings, host: str, port: int) -> None:
    """Serve ``app`` until interrupted."""
    import uvicorn

    raise_open_files_limit()
    # uvicorn's own proxy-header handling, trusting only the configured proxies (its default
    # trusts 127.0.0.1, which would let any local process choose its rate-limit key).
    uvicorn.run(app, host=host, port=port, log_level="warning", proxy_headers=bool(settings.trusted_proxies),
                forwarded_allow_ips=list(settings.trusted_proxies), http=head_timeout_protocol(settings.header_timeout))


def head_timeout_protocol(timeout: float) -> type:
    """uvicorn's HTTP/1.1 protocol, closing a connection with no request under way (none yet, or
    the last one answered) ``timeout`` seconds after it opened or after its last answer.
    A request being answered (a streamed answer) or whose body is arriving is never cut."""
    from uvicorn.protocols.http.auto import AutoHTTPProtocol

    class HeadTimeout(AutoHTTPProtocol):  # type: ignore[misc, valid-type]
        _head_timer: asyncio.TimerHandle | None = None

        def _arm(self) -> None:
            if self._head_timer is not None:
                self._head_timer.cancel()
            self._head_timer = self.loop.call_later(timeout, self._head_expired)

        def _head_expired(self) -> None:
            if (self.cycle is None or self.cycle.response_complete) and not self.transport.is_closing():
                self.transport.close()

        def connection_made(self, transport: Any) -> None:
            super().connection_made(transport)
            self._arm()

        def on_response_complete(self) -> None:
            super().on_response_complete()
            self._arm()

        def connection_lost(self, exc: Exception | None) -> None:
            if self._head_timer is not None:
                self._head_timer.cancel()
            super().connection_lost(exc)

    return HeadTimeout


def raise_open_files_limit() -> tuple[int, int]:
    """Take the hard open-files limit as the soft one (each connection holds a file); returns
    the limits now in force."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = 65536 if hard == resource.RLIM_INFINITY else hard
    if soft != resource.RLIM_INFINITY and soft < target:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
        except (ValueError, OSError) as exc:
            log.warning("Could not raise the open-files limit from %d to %d: %s", soft, target, exc)
    return resource.getrlimit(resource.RLIMIT_NOFILE)
