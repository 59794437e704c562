"""A server that records every request it gets, to catch credentials sent where they must not go.

    with CaptureServer(tls=True) as capture:   # https://localhost:PORT, self-signed
        ...
        assert capture.authorizations() == []

It answers every GET with `{"token": "captured", "repositories": [], "tags": []}`, so
a client that was lured there carries on as if it had found a token service or a page.

As an incoming webhook it keeps every POST's body and answers with `post_statuses` in
turn (then 200): `CaptureServer(post_statuses=[500, 503])` fails twice, then accepts.
"""

from __future__ import annotations

import datetime as dt
import functools
import json
import ssl
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

HOST = "127.0.0.1"
TLS_NAME = "localhost"  # the name its certificate is for


class CaptureServer:
    def __init__(
        self,
        *,
        tls: bool = False,
        workdir: Path | None = None,
        post_statuses: list[int] | None = None,
    ) -> None:
        self.tls = tls
        self.workdir = workdir
        self.requests: list[tuple[str, str, dict[str, str]]] = []
        self.post_statuses = list(post_statuses or [])
        self.posted: list[bytes] = []
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self.cert_path: Path | None = None

    def start(self) -> CaptureServer:
        server = ThreadingHTTPServer((HOST, 0), _handler_for(self))
        server.daemon_threads = True
        if self.tls:
            assert self.workdir is not None, "a TLS capture server needs a workdir"
            key_path, self.cert_path = _write_certificate(self.workdir)
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            context.load_cert_chain(self.cert_path, key_path)
            server.socket = context.wrap_socket(server.socket, server_side=True)
        self._server = server
        self._thread = threading.Thread(target=server.serve_forever, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> CaptureServer:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    @property
    def origin(self) -> str:
        assert self._server is not None
        port = self._server.server_address[1]
        return f"https://{TLS_NAME}:{port}" if self.tls else f"http://{HOST}:{port}"

    def authorizations(self) -> list[str]:
        """Every Authorization header that reached this server."""
        with self._lock:
            return [h["authorization"] for _, _, h in self.requests if "authorization" in h]

    def record(self, method: str, path: str, headers: dict[str, str]) -> None:
        with self._lock:
            self.requests.append((method, path, headers))

    def take_post(self, body: bytes) -> int:
        """Keep a POST's body; the status to answer it with."""
        with self._lock:
            self.posted.append(body)
            return self.post_statuses.pop(0) if self.post_statuses else 200


def _handler_for(capture: CaptureServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            capture.record("GET", self.path, {k.lower(): v for k, v in self.headers.items()})
            body = json.dumps({"token": "captured", "repositories": [], "tags": []}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_POST(self) -> None:
            capture.record("POST", self.path, {k.lower(): v for k, v in self.headers.items()})
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            self.send_response(capture.take_post(body))
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"ok")

        def log_message(self, format: str, *args: Any) -> None:
            pass

    return Handler


def _write_certificate(workdir: Path) -> tuple[Path, Path]:
    key_pem, cert_pem = _self_signed_localhost()
    key_path, cert_path = workdir / "capture-key.pem", workdir / "capture-cert.pem"
    key_path.write_bytes(key_pem)
    cert_path.write_bytes(cert_pem)
    return key_path, cert_path


@functools.cache
def _self_signed_localhost() -> tuple[bytes, bytes]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, TLS_NAME)])
    now = dt.datetime.now(dt.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=30))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(TLS_NAME)]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    key_pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    return key_pem, certificate.public_bytes(serialization.Encoding.PEM)
