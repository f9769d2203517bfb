"""Is a container serving? HTTP: GET http://127.0.0.1:<port><path> answers 2xx. Without a path: a TCP
connection to the container's own address is accepted (the host port alone proves nothing, since
Docker's proxy accepts connections before the application listens)."""

from __future__ import annotations

import http.client
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass

POLL_INTERVAL_SECONDS = 0.05
PROBE_TIMEOUT_SECONDS = 2.0
# A SYN lost to a stale NAT entry (a port that just moved between containers) is retransmitted only
# after 1 s; a fresh connection after a short connect timeout gets through sooner.
CONNECT_TIMEOUT_SECONDS = 0.05


class _QuickConnect(http.client.HTTPConnection):
    def connect(self) -> None:
        self.sock = socket.create_connection((self.host, self.port), timeout=CONNECT_TIMEOUT_SECONDS)
        self.sock.settimeout(self.timeout)


@dataclass(frozen=True)
class HealthResult:
    healthy: bool
    reason: str
    elapsed: float
    attempts: int


def probe_http(host: str, port: int, path: str, timeout: float = PROBE_TIMEOUT_SECONDS) -> tuple[bool, str]:
    connection = _QuickConnect(host, port, timeout=timeout)
    try:
        connection.request("GET", path, headers={"User-Agent": "borgos-health"})
        response = connection.getresponse()
        response.read()
        return 200 <= response.status < 300, f"HTTP {response.status} from {path}"
    except (OSError, http.client.HTTPException) as exc:
        return False, f"{path}: {type(exc).__name__}: {exc}".rstrip(": ")
    finally:
        connection.close()


def probe_tcp(host: str, port: int, timeout: float = PROBE_TIMEOUT_SECONDS) -> tuple[bool, str]:
    try:
        with socket.create_connection((host, port), timeout=min(timeout, CONNECT_TIMEOUT_SECONDS)):
            return True, f"TCP {host}:{port} accepts connections"
    except OSError as exc:
        return False, f"TCP {host}:{port}: {exc}"


def wait_healthy(
    probe: Callable[[], tuple[bool, str]],
    *,
    timeout: float,
    alive: Callable[[], str | None] | None = None,
) -> HealthResult:
    """Poll `probe` until it passes or `timeout` seconds pass. `alive` returns why the target can no
    longer become healthy (e.g. "container exited with code 1"), which ends the wait early."""
    started = time.monotonic()
    attempts = 0
    reason = "not probed"
    while True:
        attempts += 1
        ok, reason = probe()
        elapsed = time.monotonic() - started
        if ok:
            return HealthResult(True, reason, elapsed, attempts)
        dead = alive() if alive is not None else None
        if dead:
            return HealthResult(False, dead, elapsed, attempts)
        if elapsed >= timeout:
            return HealthResult(False, f"not healthy after {timeout:g}s: {reason}", elapsed, attempts)
        time.sleep(POLL_INTERVAL_SECONDS)
