"""A real HTTP server on 127.0.0.1 (port 0) for the HTTP-source and flow tests, with
injectable faults and holds."""
from __future__ import annotations

import contextlib
import email.utils
import hashlib
import socket
import struct
import threading
import time
from collections import Counter, defaultdict
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

HOLD_LIMIT = 120.0  # a held request answers by itself after this many seconds


class Server:
    """Serves ``root/*`` at ``/v/<name>`` (ETag + Last-Modified) and ``/lm/<name>``
    (Last-Modified only); ``/nolength/<name>`` sends no Content-Length.

    ``faults[path]`` is a queue of one-shot faults (500, 429, slow, truncate, reset);
    ``always[path]`` a status returned forever; :meth:`hold` parks GETs of a path until
    released, so a test can act while a client waits on it.
    """

    def __init__(self, root: Path) -> None:
        self.root = root
        self.faults: dict[str, list[str]] = defaultdict(list)
        self.always: dict[str, int] = {}
        self.bodies: Counter[str] = Counter()  # full 200 bodies sent, per path
        self.requests: list[tuple[str, str, int]] = []
        self.holds: dict[str, tuple[threading.Event, threading.Event]] = {}
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"

    def hold(self, path: str) -> tuple[threading.Event, threading.Event]:
        """Park every GET of ``path`` until released (or :data:`HOLD_LIMIT` passes).

        Returns ``(arrived, release)``: ``arrived`` is set when a GET is parked; set
        ``release`` to let it (and later ones) through.
        """
        events = self.holds[path] = (threading.Event(), threading.Event())
        return events

    def _handler(self):
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):  # keep test output clean
                pass

            def handle(self):
                try:
                    super().handle()
                except ConnectionError:  # a client that timed out or was reset: expected
                    pass

            def do_HEAD(self):
                self.respond(body=False)

            def do_GET(self):
                if self.path in server.holds:
                    arrived, release = server.holds[self.path]
                    arrived.set()
                    release.wait(HOLD_LIMIT)
                self.respond(body=True)

            def reply(self, status, headers=(), body=b""):
                server.requests.append((self.command, self.path, status))
                self.send_response(status)
                for key, value in headers:
                    self.send_header(key, value)
                if not any(k == "Content-Length" for k, _ in headers):
                    self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if self.command == "GET":
                    self.wfile.write(body)

            def respond(self, body):
                try:
                    self._respond(body)
                except (BrokenPipeError, ConnectionResetError):
                    self.close_connection = True  # the client gave up (timeout): expected

            def _respond(self, body):
                path = self.path
                queue = server.faults[path] if self.command == "GET" else []  # HEAD: no fault
                fault = queue.pop(0) if queue else None
                if path in server.always:
                    return self.reply(server.always[path])
                mode, _, name = path.lstrip("/").partition("/")
                file = server.root / name
                if mode not in ("v", "lm", "nolength") or not name or not file.is_file():
                    return self.reply(404)
                if fault == "500":
                    return self.reply(500, body=b"oops")
                if fault == "429":
                    return self.reply(429, [("Retry-After", "1")])
                if fault == "slow":
                    time.sleep(1.5)  # beyond the client's read timeout
                data, stat = file.read_bytes(), file.stat()
                etag = '"%s"' % hashlib.sha256(data).hexdigest()[:16]
                modified = email.utils.formatdate(stat.st_mtime, usegmt=True)
                headers = [("Last-Modified", modified)]
                if mode != "lm":
                    headers.append(("ETag", etag))
                if mode != "lm" and self.headers.get("If-None-Match") == etag:
                    return self.reply(304, headers)
                since = self.headers.get("If-Modified-Since")
                if since and int(stat.st_mtime) <= email.utils.parsedate_to_datetime(since).timestamp():
                    return self.reply(304, headers)
                if fault == "reset":
                    server.requests.append((self.command, path, 0))
                    self.connection.setsockopt(
                        socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                    self.close_connection = True
                    return
                if fault == "truncate" and self.command == "GET":
                    server.requests.append((self.command, path, 200))
                    self.send_response(200)
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data[: len(data) // 2])
                    self.wfile.flush()
                    self.close_connection = True
                    return
                if mode == "nolength":  # body delimited by closing the connection
                    headers.append(("Connection", "close"))
                    self.close_connection = True
                    server.requests.append((self.command, path, 200))
                    self.send_response(200)
                    for key, value in headers:
                        self.send_header(key, value)
                    self.end_headers()
                    if self.command == "GET":
                        self.wfile.write(data)
                    return
                if self.command == "GET":
                    server.bodies[path] += 1
                self.reply(200, headers, data)

        return Handler


@contextlib.contextmanager
def serving(root: Path):
    """Serve ``root`` while the block runs; shut down (and release every hold) on exit."""
    server = Server(root)
    thread = threading.Thread(target=server.httpd.serve_forever, kwargs={"poll_interval": 0.05},
                              daemon=True)
    thread.start()
    try:
        yield server
    finally:
        for _, release in server.holds.values():
            release.set()
        server.httpd.shutdown()
        server.httpd.server_close()
        thread.join(timeout=5)
