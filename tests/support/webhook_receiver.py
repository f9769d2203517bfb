"""A real HTTP webhook receiver for tests: a threaded http.server on a free loopback port that records
every request and answers with scripted responses (200 by default)."""

from __future__ import annotations

import socket
import ssl
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType


@dataclass(frozen=True)
class Reply:
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b"ok"
    delay_seconds: float = 0.0  # hold the answer back (to exercise client timeouts)


@dataclass(frozen=True)
class ReceivedRequest:
    method: str
    path: str
    headers: dict[str, str]  # names lower-cased
    body: bytes


class WebhookReceiver:
    """Use as a context manager: `with WebhookReceiver() as receiver: receiver.url("/hook")`."""

    def __init__(
        self, host: str = "127.0.0.1", default: Reply | None = None, tls: ssl.SSLContext | None = None
    ) -> None:
        self._default = default or Reply()
        self._script: deque[Reply] = deque()
        self._requests: list[ReceivedRequest] = []
        self._changed = threading.Condition()
        self._server = _server_for(host)((host, 0), _handler_for(self))
        self._scheme = "https" if tls else "http"
        if tls is not None:
            self._server.socket = tls.wrap_socket(self._server.socket, server_side=True)
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.02,), daemon=True)

    def __enter__(self) -> WebhookReceiver:
        self._thread.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    def url(self, path: str = "/hook", host: str | None = None) -> str:
        host = host or str(self._server.server_address[0])
        netloc = f"[{host}]" if ":" in host else host
        return f"{self._scheme}://{netloc}:{self.port}{path}"

    def reply_with(self, *replies: Reply) -> None:
        """Answer the next requests with these replies, in order, then with the default."""
        with self._changed:
            self._script.extend(replies)

    @property
    def requests(self) -> list[ReceivedRequest]:
        with self._changed:
            return list(self._requests)

    def wait_for(self, count: int, timeout: float = 5.0) -> list[ReceivedRequest]:
        """Block until at least `count` requests arrived (AssertionError after timeout)."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while len(self._requests) < count:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise AssertionError(f"expected {count} requests, got {len(self._requests)}")
                self._changed.wait(remaining)
            return list(self._requests)

    def _record(self, request: ReceivedRequest) -> Reply:
        with self._changed:
            self._requests.append(request)
            self._changed.notify_all()
            return self._script.popleft() if self._script else self._default


def _server_for(host: str) -> type[ThreadingHTTPServer]:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET

    class _Server(ThreadingHTTPServer):
        address_family = family
        daemon_threads = True

        def handle_error(self, request: object, client_address: object) -> None:
            pass  # a client that gave up (timeout tests) makes the reply fail; that is expected

    return _Server


def _handler_for(receiver: WebhookReceiver) -> type[BaseHTTPRequestHandler]:
    class _Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        disable_nagle_algorithm = True  # headers and body go out in two writes

        def do_POST(self) -> None:
            length = int(self.headers.get("content-length") or 0)
            body = self.rfile.read(length)
            reply = receiver._record(
                ReceivedRequest(
                    method="POST",
                    path=self.path,
                    headers={name.lower(): value for name, value in self.headers.items()},
                    body=body,
                )
            )
            if reply.delay_seconds:
                time.sleep(reply.delay_seconds)
            self.send_response(reply.status)
            for name, value in reply.headers.items():
                self.send_header(name, value)
            self.send_header("content-length", str(len(reply.body)))
            self.end_headers()
            self.wfile.write(reply.body)

        def log_message(self, format: str, *args: object) -> None:
            pass  # keep test output clean

    return _Handler
