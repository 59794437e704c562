"""An HTTP server of the test kit, answering on a daemon thread until stopped."""

from __future__ import annotations

import threading
from http.server import ThreadingHTTPServer


class BackgroundServer:
    """Serves `server` (each request on a thread of its own) until `stop()`."""

    def __init__(self, server: ThreadingHTTPServer, *, name: str) -> None:
        server.daemon_threads = True
        self.server = server
        self._thread = threading.Thread(
            target=server.serve_forever, name=name, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()

    @property
    def port(self) -> int:
        return self.server.server_address[1]

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self._thread.join(timeout=5)
