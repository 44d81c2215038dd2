"""A fault-injecting HTTP reverse proxy on 127.0.0.1 in front of the tests' S3 server.

Every request (any method) goes upstream as the client sent it: the same request line,
headers (``Host`` too: moto checks no signature) and body bytes, a ``Transfer-Encoding:
chunked`` body (aws-chunked or not) passed on chunk for chunk. Only ``Expect: 100-continue``
is answered here and not passed on. A request body is read whole before it goes on (the
tests' objects are small); the answer streams back as it is (status, headers, a ``Range``
answer's 206 and ``Content-Range``), only its hop-by-hop framing redone. A connection to
upstream a request. Switch it at run time:

    proxy.mode = "pass"     # forward (the default)
    proxy.mode = "fail"     # answer 503 with an S3 XML error (``fail_code``: ServiceUnavailable, SlowDown)
    proxy.mode = "slow"     # sleep ``proxy.delay`` seconds, then forward
    proxy.mode = "drop"     # close the connection without an answer
    proxy.fail_after(n)     # forward n more requests, then fail every later one

``proxy.requests`` counts the requests; ``proxy.log`` lists ``(method, path, status)``
(status 0: dropped). The proxy is an S3 endpoint like the server (same keys):
``proxy.pyarrow_fs()``, ``proxy.duckdb_secret()``, ``proxy.env()``.

    def test_retry(s3_server, store_proxy):
        con.execute(store_proxy.duckdb_secret())
        store_proxy.mode = "fail"
"""
from __future__ import annotations

import http.client
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

import pytest

from tests.s3_server import Endpoint

HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "proxy-connection", "upgrade"}
UPSTREAM_TIMEOUT = 120  # seconds a forwarded request may take
MODES = ("pass", "fail", "slow", "drop")


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128  # (DuckDB opens many connections at once: its uploads, its reads)


class StoreProxy(Endpoint):
    """A context manager: a started proxy in front of ``upstream`` (an :class:`Endpoint`)."""

    def __init__(self, upstream: Endpoint, delay: float = 2.0) -> None:
        self.upstream = upstream
        self.access_key, self.secret_key, self.region = upstream.access_key, upstream.secret_key, upstream.region
        self.delay = delay
        self.fail_code = "ServiceUnavailable"  # or "SlowDown"; both answer 503
        self.requests = 0
        self.log: list[tuple[str, str, int]] = []
        self._mode = "pass"
        self._fail_at: int | None = None
        self._lock = threading.Lock()
        self._open: set[socket.socket] = set()
        self.httpd = _Server(("127.0.0.1", 0), self._handler())
        self.port = self.httpd.server_address[1]
        self.endpoint_url = f"http://127.0.0.1:{self.port}"
        self._thread: threading.Thread | None = None

    @property
    def mode(self) -> str:
        return self._mode

    @mode.setter
    def mode(self, value: str) -> None:
        if value not in MODES:
            raise ValueError(f"mode {value!r}: not one of {MODES}")
        with self._lock:
            self._mode, self._fail_at = value, None

    def fail_after(self, n: int) -> None:
        """Forward the next ``n`` requests, then fail every later one (until ``mode`` is set)."""
        with self._lock:
            self._mode, self._fail_at = "pass", self.requests + n

    def _action(self) -> str:
        with self._lock:
            self.requests += 1
            if self._fail_at is not None and self.requests > self._fail_at:
                return "fail"
            return self._mode

    def _record(self, method: str, path: str, status: int) -> None:
        with self._lock:
            self.log.append((method, path, status))

    def _handler(self):
        proxy = self
        upstream = urlsplit(self.upstream.endpoint_url)

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):  # keep test output clean
                pass

            def setup(self):
                super().setup()
                with proxy._lock:
                    proxy._open.add(self.connection)

            def finish(self):
                with proxy._lock:
                    proxy._open.discard(self.connection)
                try:
                    super().finish()
                except OSError:
                    pass

            def handle(self):
                try:
                    super().handle()
                except (OSError, ValueError):  # a client gone (or garbled), or the proxy stopped
                    self.close_connection = True

            def body(self) -> bytes:
                """The request body's bytes as sent: chunked framing kept, to pass on as is."""
                if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
                    raw = []
                    while True:
                        line = self.rfile.readline(65537)
                        raw.append(line)
                        size = int(line.split(b";", 1)[0].strip() or b"0", 16)
                        if size == 0:
                            while True:  # the trailer, up to its empty line
                                line = self.rfile.readline(65537)
                                raw.append(line)
                                if line in (b"\r\n", b"\n", b""):
                                    return b"".join(raw)
                        raw.append(self.rfile.read(size + 2))
                length = int(self.headers.get("Content-Length") or 0)
                return self.rfile.read(length) if length else b""

            def forward(self):
                action = proxy._action()
                data = self.body()
                if action == "drop":
                    proxy._record(self.command, self.path, 0)
                    self.close_connection = True
                    return
                if action == "fail":
                    return self.fail()
                if action == "slow":
                    time.sleep(proxy.delay)
                conn = http.client.HTTPConnection(upstream.hostname, upstream.port, timeout=UPSTREAM_TIMEOUT)
                try:
                    conn.putrequest(self.command, self.path, skip_host=True, skip_accept_encoding=True)
                    for key, value in self.headers.items():
                        if key.lower() != "expect":  # (answered here already)
                            conn.putheader(key, value)
                    conn.endheaders()
                    if data:
                        conn.send(data)
                    resp = conn.getresponse()
                except (OSError, http.client.HTTPException) as e:
                    conn.close()
                    return self.fail(502, "BadGateway", f"store proxy: upstream {e!r}")
                try:
                    self.relay(resp)
                finally:
                    conn.close()

            def relay(self, resp: http.client.HTTPResponse):
                proxy._record(self.command, self.path, resp.status)
                self.send_response_only(resp.status, resp.reason)
                for key, value in resp.getheaders():
                    if key.lower() not in HOP_BY_HOP:
                        self.send_header(key, value)
                no_body = self.command == "HEAD" or resp.status in (204, 304) or 100 <= resp.status < 200
                if no_body:
                    self.end_headers()
                    return
                if resp.chunked:
                    self.send_header("Transfer-Encoding", "chunked")
                    self.end_headers()
                    while chunk := resp.read1(65536):
                        self.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
                    self.wfile.write(b"0\r\n\r\n")
                    return
                if resp.length is None:  # delimited by the connection's close: send it with a length
                    payload = resp.read()
                    self.send_header("Content-Length", str(len(payload)))
                    self.end_headers()
                    self.wfile.write(payload)
                    return
                self.end_headers()
                try:
                    while chunk := resp.read(65536):
                        self.wfile.write(chunk)
                except (http.client.HTTPException, OSError):
                    self.close_connection = True  # the client sees the body cut, as the proxy did

            def fail(self, status: int = 503, code: str | None = None, message: str = "injected by the store proxy"):
                code = code or proxy.fail_code
                proxy._record(self.command, self.path, status)
                payload = (f'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>{code}</Code>'
                           f"<Message>{message}</Message><Resource>{self.path}</Resource>"
                           f"<RequestId>frus-proxy-{proxy.requests}</RequestId></Error>").encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/xml")
                self.send_header("Content-Length", str(len(payload)))
                self.send_header("x-amz-request-id", f"frus-proxy-{proxy.requests}")
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(payload)

            do_GET = do_HEAD = do_PUT = do_POST = do_DELETE = do_PATCH = do_OPTIONS = forward

        return Handler

    def start(self) -> "StoreProxy":
        self._thread = threading.Thread(target=self.httpd.serve_forever, name="store-proxy", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and cut the open connections (a kept-alive one must not forward more)."""
        if self._thread is None:
            return
        self.httpd.shutdown()
        self.httpd.server_close()
        with self._lock:
            open_ = list(self._open)
        for sock in open_:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        self._thread.join(10)
        self._thread = None

    def __enter__(self) -> "StoreProxy":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


@pytest.fixture
def store_proxy(s3_server):
    """A :class:`StoreProxy` in front of the session's S3 server, for one test."""
    with StoreProxy(s3_server) as proxy:
        yield proxy
