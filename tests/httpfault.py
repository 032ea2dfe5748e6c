"""A real threaded HTTP server on 127.0.0.1 that serves files and injects faults.

Used by the download tests and ``benchmarks/download.py``. Each route has a
body and a queue of faults consumed one per request (then it serves normally):

* ``"500"`` / ``"503"`` ...: answer with that status;
* ``"429:S"``: 429 with ``Retry-After: S``;
* ``"reset:N"``: send headers and N body bytes, then reset the connection (RST);
* ``"truncate:N"``: send headers and N body bytes, then close cleanly (FIN);
* ``"sleep:S"``: sleep S seconds before answering (read timeout).

Route options: ``ranges`` (honour ``Range``/``If-Range``), ``content_type``,
``headers`` (extra response headers), ``rate`` (bytes per 10 ms, to make a
transfer slow enough to kill midway), ``redirect`` (answer 302 to that path).
Every request is logged as ``(path, range_header, user_agent)``.
"""

from __future__ import annotations

import hashlib
import socket
import struct
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass
class Route:
    body: bytes = b""
    content_type: str = "application/octet-stream"
    ranges: bool = True
    faults: list[str] = field(default_factory=list)
    headers: dict[str, str] = field(default_factory=dict)
    rate: int | None = None
    redirect: str | None = None


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args) -> None:  # keep test output clean
        pass

    def do_GET(self) -> None:
        server: FaultServer = self.server.owner  # type: ignore[attr-defined]
        path = self.path.split("?", 1)[0]
        rng = self.headers.get("Range")
        with server.lock:
            server.log.append((path, rng, self.headers.get("User-Agent")))
            route = server.routes.get(path)
            fault = route.faults.pop(0) if route and route.faults else None
        if route is None:
            self._simple(404, b"not found")
            return
        if route.redirect:
            self.send_response(302)
            self.send_header("Location", route.redirect)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        if fault and fault.startswith("sleep:"):
            time.sleep(float(fault.split(":")[1]))
            fault = None
        if fault and fault.split(":")[0].isdigit():
            code = int(fault.split(":")[0])
            extra = {"Retry-After": fault.split(":")[1]} if ":" in fault else {}
            self._simple(code, b"fault", extra)
            return
        body, status, headers = route.body, 200, {"Content-Type": route.content_type}
        etag = '"' + hashlib.sha256(route.body).hexdigest()[:16] + '"'
        headers["ETag"] = etag
        if route.ranges:
            headers["Accept-Ranges"] = "bytes"
            if_range = self.headers.get("If-Range")
            if rng and rng.startswith("bytes=") and (if_range is None or if_range == etag):
                start = int(rng[6:].split("-")[0])
                if start >= len(body):
                    self._simple(416, b"", {"Content-Range": f"bytes */{len(body)}"})
                    return
                status = 206
                headers["Content-Range"] = f"bytes {start}-{len(body) - 1}/{len(body)}"
                body = body[start:]
        headers.update(route.headers)
        self.send_response(status)
        for k, v in headers.items():
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if fault and fault.startswith(("reset:", "truncate:")):
            n = int(fault.split(":")[1])
            self.wfile.write(body[:n])
            self.wfile.flush()
            if fault.startswith("reset:"):
                self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            else:
                self.connection.shutdown(socket.SHUT_RDWR)
            self.close_connection = True
            return
        if route.rate:
            for i in range(0, len(body), route.rate):
                self.wfile.write(body[i:i + route.rate])
                self.wfile.flush()
                time.sleep(0.01)
        else:
            self.wfile.write(body)

    def _simple(self, code: int, body: bytes, headers: dict[str, str] | None = None) -> None:
        self.send_response(code)
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


class FaultServer:
    """A ThreadingHTTPServer on a free loopback port; use as a context manager."""

    def __init__(self) -> None:
        self.routes: dict[str, Route] = {}
        self.log: list[tuple[str, str | None, str | None]] = []
        self.lock = threading.Lock()
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        self.httpd.daemon_threads = True
        self.httpd.request_queue_size = 256
        self.httpd.owner = self  # type: ignore[attr-defined]
        self.thread = threading.Thread(target=self.httpd.serve_forever, args=(0.05,), daemon=True)

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}"

    def url(self, path: str) -> str:
        return self.base + path

    def add(self, path: str, body: bytes = b"", **options) -> str:
        """Serve ``body`` at ``path`` with the :class:`Route` options; return its URL."""
        self.routes[path] = Route(body=body, **options)
        return self.url(path)

    def requests_for(self, path: str) -> list[tuple[str, str | None, str | None]]:
        return [entry for entry in self.log if entry[0] == path]

    def __enter__(self) -> FaultServer:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

