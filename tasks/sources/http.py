"""TEI volumes (or page texts) over HTTP(S), with conditional GETs and retries.

Which URLs (HTTP has no listing, so the items are always named explicitly):

- ``https://host/…/frus1861.xml`` (a URL ending in ``.xml`` or ``.txt``): that one item;
- ``https://host/…/volumes`` (a base URL): ``<base>/<volume_id>.xml`` for each of
  ``volumes``, which must then be plain ids, not globs;
- ``urls:PATH`` (:meth:`HttpSource.from_list`) or ``urls=[…]``: a list of URLs, one a line
  in the file (``#`` comments), filtered by ``volumes`` (globs allowed).

Item ``name`` is the URL path, ``uri`` the URL itself.

Change detection: ``scan`` sends one HEAD per item (a single attempt, no body) and reports
``etag:<ETag>`` or ``lm:<Last-Modified>|<length>``; without those (or if HEAD fails) the
version is ``unverified:<time>``, which never equals a recorded one, so the caller fetches
and the conditional GET decides. ``fetch`` is the real check: ``If-None-Match`` /
``If-Modified-Since`` from ``DATA/state/http.json`` (per-URL validators and the sha256 landed
for them, written atomically: :mod:`tasks.sources.http_state`); a 304 returns the previously landed blob without a download.

A 200 body streams into the landing zone, hashed on the way, with a size limit; when the
response announces a Content-Length the byte count must match, so a truncated body never
lands. Connection errors, timeouts, truncated bodies, 5xx and 429 are retried with
exponential backoff (``Retry-After`` seconds honoured, capped); other statuses fail at once.
"""
from __future__ import annotations

import email.utils
import logging
import time
from pathlib import Path
from urllib.parse import unquote, urlparse

import httpx

from tasks.landing import IncompleteContent, SizeLimitExceeded, land_chunks, raw_path
from tasks.sources import FetchedItem, FetchError, Source, SourceItem, kind_of, selected
from tasks.sources.http_state import ValidatorStore

log = logging.getLogger(__name__)
DEFAULT_MAX_SIZE = 200 * 1024 * 1024
_RETRY_STATUS = {429, 500, 502, 503, 504}


class _Retryable(Exception):
    """A transient failure: try again after ``delay`` seconds (None = backoff)."""

    def __init__(self, reason: str, delay: float | None = None) -> None:
        super().__init__(reason)
        self.delay = delay


class HttpSource(Source):
    """Items at explicit HTTP(S) URLs; see the module docstring for the URL forms."""

    def __init__(
        self,
        uri: str,
        data_root: Path,
        volumes: list[str] | None = None,
        *,
        urls: list[str] | None = None,
        max_size: int = DEFAULT_MAX_SIZE,
        timeout: float = 30.0,
        connect_timeout: float = 10.0,
        retries: int = 4,
        backoff: float = 0.5,
        max_backoff: float = 30.0,
        max_retry_after: float = 60.0,
        head: bool = True,
    ) -> None:
        """Args:
            uri: one item URL or a base URL ("" with ``urls`` only).
            data_root: the data root (``DATA``).
            volumes: ids (base URL) or ids/globs (URL lists); None = all.
            urls: more item URLs.
            max_size: largest body accepted, in bytes.
            timeout: seconds without progress (read/write/pool) before giving up an attempt.
            connect_timeout: seconds to connect.
            retries: retries after the first attempt, for transient failures.
            backoff: first retry delay; doubles each retry up to ``max_backoff``.
            max_retry_after: cap on a server's Retry-After.
            head: whether ``scan`` sends HEAD requests (else every version is unverified).
        """
        self.uri, self.data_root, self.volumes = uri, Path(data_root), volumes
        self.urls = [*_expand(uri, volumes), *(urls or [])]
        self.max_size, self.retries, self.head = max_size, retries, head
        self.backoff, self.max_backoff, self.max_retry_after = backoff, max_backoff, max_retry_after
        self.validators = ValidatorStore(self.data_root)
        self._client = httpx.Client(
            timeout=httpx.Timeout(timeout, connect=connect_timeout),
            follow_redirects=True,
            # identity: Content-Length then counts the bytes we land, so truncation shows.
            headers={"User-Agent": "frus-pipeline", "Accept-Encoding": "identity"},
        )

    @classmethod
    def from_list(cls, path: str, data_root: Path, volumes: list[str] | None = None,
                  **options: object) -> HttpSource:
        """A source over the URLs listed in a text file (one a line, ``#`` comments)."""
        lines = Path(unquote(path.removeprefix("file://"))).read_text().splitlines()
        urls = [s for line in lines if (s := line.split("#", 1)[0].strip())]
        source = cls("", data_root, volumes, urls=urls, **options)  # type: ignore[arg-type]
        source.uri = "urls:" + path
        return source

    def scan(self) -> list[SourceItem]:
        """The selected URLs, each with a version from a HEAD request (see module doc)."""
        items = []
        for url in self.urls:
            name = unquote(urlparse(url).path).lstrip("/")
            if selected(name, self.volumes):
                version = self._probe(url) if self.head else _unverified()
                items.append(SourceItem(name, url, version, kind_of(name) or "tei"))
        return items

    def fetch(self, item: SourceItem) -> FetchedItem:
        """Conditional GET with retries; the body lands in ``DATA/raw``."""
        url, reason = item.uri, "no attempt"
        for attempt in range(self.retries + 1):
            try:
                return self._get(item)
            except _Retryable as exc:
                reason = str(exc)
                if attempt == self.retries:
                    break
                delay = exc.delay
                if delay is None:
                    delay = min(self.backoff * 2**attempt, self.max_backoff)
                log.info("%s: %s; retry %d in %.2fs", url, reason, attempt + 1, delay)
                time.sleep(delay)
        raise FetchError(url, f"{reason} (after {self.retries + 1} attempts)")

    def close(self) -> None:
        self._client.close()

    def _get(self, item: SourceItem) -> FetchedItem:
        url, known = item.uri, self.validators.get(item.uri)
        landed_before, headers = self._landed(known), {}
        if landed_before:
            if known.get("etag"):
                headers["If-None-Match"] = known["etag"]
            if known.get("last_modified"):
                headers["If-Modified-Since"] = known["last_modified"]
        try:
            with self._client.stream("GET", url, headers=headers) as resp:
                status = resp.status_code
                if status == 304 and headers:  # unchanged: the blob we landed last time
                    return FetchedItem(item, landed_before, known["sha256"], known["size"])
                if status in _RETRY_STATUS:
                    raise _Retryable(f"HTTP {status}", _retry_after(resp, self.max_retry_after))
                if status != 200:
                    raise FetchError(url, f"HTTP {status}")
                length = _content_length(resp)
                if length is not None and length > self.max_size:
                    raise FetchError(url, f"Content-Length {length} exceeds the size limit "
                                          f"of {self.max_size} bytes")
                landed = land_chunks(self.data_root, resp.iter_bytes(),
                                     max_size=self.max_size, expected_size=length)
                validators = {"etag": resp.headers.get("etag"),
                              "last_modified": resp.headers.get("last-modified")}
        except httpx.UnsupportedProtocol as exc:
            raise FetchError(url, str(exc)) from exc
        except httpx.TransportError as exc:  # connect/read errors, timeouts, truncated bodies
            raise _Retryable(f"{type(exc).__name__}: {exc}") from exc
        except IncompleteContent as exc:
            raise _Retryable(f"truncated body: {exc}") from exc
        except (SizeLimitExceeded, httpx.HTTPError, httpx.InvalidURL, OSError) as exc:
            raise FetchError(url, f"{type(exc).__name__}: {exc}") from exc
        self.validators.put(url, {**validators, "sha256": landed.sha256, "size": landed.size})
        return FetchedItem(item, landed.path, landed.sha256, landed.size)

    def _landed(self, known: dict | None) -> Path | None:
        # The blob recorded for the URL, if it is still in raw/ (else no conditional GET).
        try:
            path = raw_path(self.data_root, known["sha256"]) if known else None
            int(known["size"]) if known else None
        except (KeyError, TypeError, ValueError):  # a damaged entry: just download again
            return None
        return path if path and path.exists() else None

    def _probe(self, url: str) -> str:
        try:
            resp = self._client.head(url)
        except (httpx.HTTPError, httpx.InvalidURL) as exc:
            log.warning("HEAD %s failed: %s", url, exc)
            return _unverified()
        if resp.status_code != 200:
            return _unverified()
        if etag := resp.headers.get("etag"):
            return f"etag:{etag}"
        if modified := resp.headers.get("last-modified"):
            return f"lm:{modified}|{resp.headers.get('content-length', '')}"
        return _unverified()


def _retry_after(resp: httpx.Response, cap: float) -> float | None:
    """The seconds a server's Retry-After asks for (at most ``cap``), or None."""
    value = resp.headers.get("retry-after", "").strip()
    if value.isdigit():
        return min(float(value), cap)
    try:  # the other form: an HTTP date
        wait = email.utils.parsedate_to_datetime(value).timestamp() - time.time()
    except (TypeError, ValueError):
        return None
    return max(0.0, min(wait, cap))


def _expand(uri: str, volumes: list[str] | None) -> list[str]:
    """The item URLs of ``uri``: itself (an item's URL), or a base URL completed by ``volumes``."""
    if not uri or kind_of(urlparse(uri).path):
        return [uri] if uri else []
    if not volumes or any(c in v for v in volumes for c in "*?["):
        raise ValueError(f"{uri}: an HTTP base URL has no listing; give volume ids "
                         "(not globs), a URL ending in .xml, or urls:FILE")
    return [f"{uri.rstrip('/')}/{v.removesuffix('.xml')}.xml" for v in volumes]


def _content_length(resp: httpx.Response) -> int | None:
    # An encoded body's length is not the length of what we land: only trust identity.
    if resp.headers.get("content-encoding", "identity") != "identity":
        return None
    value = resp.headers.get("content-length")
    return int(value) if value and value.isdigit() else None


def _unverified() -> str:
    return f"unverified:{time.time_ns()}"
