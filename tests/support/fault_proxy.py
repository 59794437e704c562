"""An HTTP reverse proxy in front of a real registry that injects faults on request.

    proxy = FaultProxy(registry.url).start()
    proxy.add_fault("GET", r"/tags/list", Respond(500, ERROR_BODY), times=1)
    client = RegistryClient(proxy.url)

Requests that match no fault are forwarded as they are, `Host` included, so the URLs the
registry builds (upload `Location`, catalog `Link`) point back at the proxy.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import re
import socket
import struct
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

HOST = "127.0.0.1"
UPSTREAM_TIMEOUT = 30
COPY_CHUNK = 64 * 1024
HOP_BY_HOP = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-authenticate",
        "proxy-authorization",
        "te",
        "trailer",
        "trailers",
        "transfer-encoding",
        "upgrade",
        "expect",
        "content-length",
    }
)


def distribution_error(code: str, message: str) -> bytes:
    """A body shaped like distribution's errors: `{"errors": [{"code", "message"}]}`."""
    return json.dumps({"errors": [{"code": code, "message": message, "detail": None}]}).encode()


@dataclass(frozen=True)
class Respond:
    """Answer with this status, body and headers instead of asking the registry."""

    status: int
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class MalformedBody:
    """Forward, then replace the registry's body with a truncated one (invalid JSON)."""


@dataclass(frozen=True)
class ResetConnection:
    """Close the client's connection with a TCP reset, without answering."""


@dataclass(frozen=True)
class Delay:
    """Wait this long, then forward (for timeouts)."""

    seconds: float


@dataclass(frozen=True)
class ForwardThenReset:
    """Forward, let the registry act, then reset the client's connection: the answer is lost."""


@dataclass(frozen=True)
class ForwardThenRespond:
    """Forward, let the registry act, then answer this instead (a gateway's 502 after the fact)."""

    status: int
    body: bytes = b""


@dataclass(frozen=True)
class RewriteLinks:
    """Forward, then point the `Link` header's URLs at another origin (scheme://host:port)."""

    origin: str


@dataclass(frozen=True)
class ForwardAddingHeaders:
    """Forward, then add these headers to the registry's answer (GitLab's /v2/ headers)."""

    headers: dict[str, str]


@dataclass(frozen=True)
class Handle:
    """Answer with `function(method, path, headers, body)`: (status, headers, body), or
    None to forward as usual. For playing another registry's behaviour on top of 2.8."""

    function: Callable[
        [str, str, dict[str, str], bytes | None], tuple[int, dict[str, str], bytes] | None
    ]


Fault = (
    Respond
    | ForwardAddingHeaders
    | Handle
    | MalformedBody
    | ResetConnection
    | Delay
    | ForwardThenReset
    | ForwardThenRespond
    | RewriteLinks
)


@dataclass(eq=False)
class FaultRule:
    method: str | None
    path_regex: str
    action: Fault
    times: int | None = None
    hits: int = 0

    def matches(self, method: str, path: str) -> bool:
        if self.times is not None and self.hits >= self.times:
            return False
        if self.method is not None and self.method.upper() != method:
            return False
        return re.search(self.path_regex, path) is not None


class _Reset(Exception):
    """Raised once a connection has been reset, to leave the handler's request loop."""


class FaultProxy:
    def __init__(self, upstream_url: str) -> None:
        upstream = urlsplit(upstream_url)
        if upstream.scheme != "http" or not upstream.hostname:
            raise ValueError(f"FaultProxy forwards to http:// URLs only, not {upstream_url!r}")
        self.upstream_host = upstream.hostname
        self.upstream_port = upstream.port or 80
        self.rules: list[FaultRule] = []
        self.requests: list[tuple[str, str]] = []
        self.down = False
        self._port: int | None = None
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._connections: set[socket.socket] = set()

    # lifecycle ------------------------------------------------------------------------

    def start(self) -> FaultProxy:
        self._serve(self._port or 0)
        return self

    def stop(self) -> None:
        self._close_listener()
        self._drop_connections()

    def set_down(self, down: bool) -> None:
        """Down: the port refuses connections and open ones are dropped. Up: serve again."""
        if down == self.down:
            return
        self.down = down
        if down:
            self._close_listener()
            self._drop_connections()
        else:
            self._serve(self.port)

    def __enter__(self) -> FaultProxy:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    @property
    def port(self) -> int:
        if self._port is None:
            raise RuntimeError("FaultProxy is not started")
        return self._port

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}"

    # faults ---------------------------------------------------------------------------

    def add_fault(
        self, method: str | None, path_regex: str, action: Fault, times: int | None = None
    ) -> FaultRule:
        """Apply `action` to the next `times` requests (None: all) whose method matches and
        whose path and query match `path_regex` (re.search). The first rule added wins."""
        rule = FaultRule(method, path_regex, action, times)
        with self._lock:
            self.rules.append(rule)
        return rule

    def clear_faults(self) -> None:
        with self._lock:
            self.rules.clear()

    @property
    def hits(self) -> list[int]:
        """How many requests each fault applied to, in the order they were added."""
        with self._lock:
            return [rule.hits for rule in self.rules]

    def requests_matching(self, method: str | None, path_regex: str) -> list[tuple[str, str]]:
        with self._lock:
            seen = list(self.requests)
        return [
            (m, p)
            for m, p in seen
            if (method is None or m == method.upper()) and re.search(path_regex, p)
        ]

    def _take_fault(self, method: str, path: str) -> Fault | None:
        with self._lock:
            self.requests.append((method, path))
            for rule in self.rules:
                if rule.matches(method, path):
                    rule.hits += 1
                    return rule.action
        return None

    # plumbing -------------------------------------------------------------------------

    def _serve(self, port: int) -> None:
        server = ThreadingHTTPServer((HOST, port), _handler_for(self))
        server.daemon_threads = True
        self._server = server
        self._port = server.server_address[1]
        self._thread = threading.Thread(
            target=server.serve_forever, name="fault-proxy", kwargs={"poll_interval": 0.05}
        )
        self._thread.daemon = True
        self._thread.start()

    def _close_listener(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def _drop_connections(self) -> None:
        with self._lock:
            connections = list(self._connections)
        for connection in connections:
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)

    def _track(self, connection: socket.socket, *, open_: bool) -> None:
        with self._lock:
            if open_:
                self._connections.add(connection)
            else:
                self._connections.discard(connection)


def _handler_for(proxy: FaultProxy) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        upstream: http.client.HTTPConnection | None = None

        def setup(self) -> None:
            super().setup()
            # Headers and body are written separately: without this, Nagle's algorithm
            # and delayed ACKs add 40 ms to every response.
            self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            proxy._track(self.connection, open_=True)

        def handle(self) -> None:
            try:
                super().handle()
            except _Reset:
                self.close_connection = True
            except OSError:
                # The client went away, or set_down/stop dropped the connection.
                self.close_connection = True

        def finish(self) -> None:
            proxy._track(self.connection, open_=False)
            if self.upstream is not None:
                self.upstream.close()
            with contextlib.suppress(OSError, ValueError):
                super().finish()

        def _proxy(self) -> None:
            if proxy.down:
                self._reset()
            fault = proxy._take_fault(self.command, self.path)
            if isinstance(fault, ResetConnection):
                self._reset()
            body = self._read_body()
            if isinstance(fault, Respond):
                self._answer(fault.status, list(fault.headers.items()), fault.body)
                return
            if isinstance(fault, Handle):
                answered = fault.function(self.command, self.path, dict(self.headers.items()), body)
                if answered is not None:
                    self._answer(answered[0], list(answered[1].items()), answered[2])
                    return
            if isinstance(fault, Delay):
                time.sleep(fault.seconds)
            try:
                response = self._forward(body)
            except (OSError, http.client.HTTPException) as error:
                message = f"fault proxy: upstream failed: {error}"
                self._answer(502, [("Content-Type", "text/plain")], message.encode())
                return
            if isinstance(fault, MalformedBody) and self.command != "HEAD":
                self._answer(response.status, _end_to_end(response), _truncate(response.read()))
                self._release_upstream(response)
            elif isinstance(fault, ForwardThenReset):
                response.read()
                self._release_upstream(response)
                self._reset()
            elif isinstance(fault, ForwardThenRespond):
                response.read()
                self._release_upstream(response)
                self._answer(fault.status, [("Content-Type", "application/json")], fault.body)
            elif isinstance(fault, ForwardAddingHeaders):
                headers = [*_end_to_end(response), *fault.headers.items()]
                self._answer(response.status, headers, response.read())
                self._release_upstream(response)
            elif isinstance(fault, RewriteLinks):
                headers = [
                    (k, _rewrite_link(v, fault.origin) if k.lower() == "link" else v)
                    for k, v in _end_to_end(response)
                ]
                self._answer(response.status, headers, response.read())
                self._release_upstream(response)
            else:
                self._relay(response)

        do_GET = do_HEAD = do_POST = do_PUT = do_PATCH = do_DELETE = do_OPTIONS = _proxy

        def _read_body(self) -> bytes | None:
            """The request body, de-chunked; None when the request announced none."""
            if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
                return self._read_chunked()
            length = self.headers.get("Content-Length")
            if length is None:
                return None
            return self.rfile.read(int(length))

        def _read_chunked(self) -> bytes:
            parts: list[bytes] = []
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip(), 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass  # trailers
                    return b"".join(parts)
                parts.append(self.rfile.read(size))
                self.rfile.readline()

        def _forward(self, body: bytes | None) -> http.client.HTTPResponse:
            for attempt in (1, 2):
                fresh = self.upstream is None
                if fresh:
                    self.upstream = http.client.HTTPConnection(
                        proxy.upstream_host, proxy.upstream_port, timeout=UPSTREAM_TIMEOUT
                    )
                assert self.upstream is not None
                try:
                    self._send_upstream(self.upstream, body)
                    return self.upstream.getresponse()
                except (OSError, http.client.HTTPException):
                    self.upstream.close()
                    self.upstream = None
                    # A kept-alive connection the registry closed meanwhile: retry once.
                    if fresh or attempt == 2:
                        raise
            raise AssertionError("unreachable")

        def _send_upstream(self, upstream: http.client.HTTPConnection, body: bytes | None) -> None:
            if upstream.sock is None:
                upstream.connect()
                assert upstream.sock is not None
                upstream.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            upstream.putrequest(self.command, self.path, skip_host=True, skip_accept_encoding=True)
            for key, value in self.headers.items():
                if key.lower() not in HOP_BY_HOP:
                    upstream.putheader(key, value)
            if body is not None:
                upstream.putheader("Content-Length", str(len(body)))
            upstream.endheaders(body)

        def _relay(self, response: http.client.HTTPResponse) -> None:
            headers = _end_to_end(response)
            length = response.getheader("Content-Length")
            if self.command == "HEAD" or response.status in (204, 304):
                response.read()
                self._send_head(response.status, headers, length)
            elif length is None:
                # A chunked answer: read it whole and give it a length.
                self._answer(response.status, headers, response.read())
            else:
                self._send_head(response.status, headers, length)
                while chunk := response.read(COPY_CHUNK):
                    self.wfile.write(chunk)
            self._release_upstream(response)

        def _release_upstream(self, response: http.client.HTTPResponse) -> None:
            if response.will_close and self.upstream is not None:
                self.upstream.close()
                self.upstream = None

        def _send_head(
            self, status: int, headers: list[tuple[str, str]], length: str | None
        ) -> None:
            self.send_response_only(status)
            for key, value in headers:
                self.send_header(key, value)
            if length is not None:
                self.send_header("Content-Length", length)
            self.end_headers()

        def _answer(self, status: int, headers: list[tuple[str, str]], body: bytes) -> None:
            self._send_head(
                status,
                [(k, v) for k, v in headers if k.lower() != "content-length"],
                str(len(body)),
            )
            if self.command != "HEAD" and status not in (204, 304):
                self.wfile.write(body)

        def _reset(self) -> None:
            """Close with SO_LINGER 0: the kernel sends RST, the client sees a reset."""
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.rfile.close()
            self.wfile.close()
            self.connection.close()
            raise _Reset

        def log_message(self, format: str, *args: Any) -> None:
            pass

    return Handler


def _end_to_end(response: http.client.HTTPResponse) -> list[tuple[str, str]]:
    return [(k, v) for k, v in response.getheaders() if k.lower() not in HOP_BY_HOP]


def _rewrite_link(value: str, origin: str) -> str:
    """`<…/v2/_catalog?last=a&n=1>; rel="next"` with the URL moved to `origin`."""
    return re.sub(r"<(?:[a-z]+://[^/>]+)?(/[^>]*)>", lambda m: f"<{origin}{m.group(1)}>", value)


def _truncate(body: bytes) -> bytes:
    """The first half of the body: a proper prefix of a JSON object never parses."""
    half = body[: len(body) // 2]
    try:
        json.loads(half)
    except ValueError:
        return half
    return b'{"truncated'
