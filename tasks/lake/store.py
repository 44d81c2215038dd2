"""Where the lake's files live: a folder, or S3-compatible object storage (``s3://bucket/prefix``),
and how DuckDB (httpfs) and pyarrow reach a store.

A store's settings come from the usual environment only, never from an argument or a file of
the data root, so no credential is ever written down by the pipeline: ``AWS_ACCESS_KEY_ID``,
``AWS_SECRET_ACCESS_KEY`` (and ``AWS_SESSION_TOKEN``), ``AWS_ENDPOINT_URL_S3`` or
``AWS_ENDPOINT_URL`` for an S3-compatible server, ``AWS_REGION`` / ``AWS_DEFAULT_REGION``,
``AWS_S3_ADDRESSING_STYLE`` (``path`` or ``virtual``; default ``path`` with an endpoint, as
S3-compatible servers expect). Failed requests are retried (``FRUS_STORE_RETRIES``, default 4,
with a growing wait), a request waits ``FRUS_STORE_TIMEOUT`` seconds at most (default 30).
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from urllib.parse import urlparse

import duckdb

SCHEMES = ("s3://",)
RETRIES = "FRUS_STORE_RETRIES"
TIMEOUT = "FRUS_STORE_TIMEOUT"


def is_remote(location: str | os.PathLike) -> bool:
    """Whether ``location`` is an object-store URL (``s3://…``), not a path."""
    return str(location).startswith(SCHEMES)


def join(location: str, *parts: str) -> str:
    """``location`` and ``parts`` joined by ``/`` (a URL or a POSIX path alike)."""
    out = str(location)
    for part in parts:
        out = out.rstrip("/") + "/" + part.strip("/")
    return out


def check_url(url: str) -> str:
    """An ``s3://bucket/prefix`` URL as the lake stores it (ending in ``/``).

    Raises:
        ValueError: no bucket, or a part the store cannot take (``..``, a query).
    """
    u = urlparse(url)
    if "@" in u.netloc:  # (not echoed: what precedes the @ may be a key)
        raise ValueError("an object-store URL holds no credentials: they go in AWS_ACCESS_KEY_ID and "
                         "AWS_SECRET_ACCESS_KEY")
    if u.scheme != "s3" or not u.netloc or u.query or u.fragment:
        raise ValueError(f"not an object-store URL s3://bucket/prefix: {url!r}")
    if any(p in (".", "..") for p in u.path.split("/")):
        raise ValueError(f"{url!r}: '.' and '..' are not parts of an object-store prefix")
    return url.rstrip("/") + "/"


@dataclass(frozen=True)
class S3Settings:
    """An S3 store's settings, read from the environment (:func:`settings`)."""

    key_id: str | None
    secret: str | None = field(repr=False)  # (never printed: not in a repr, a log or an error)
    session_token: str | None = field(repr=False)
    region: str
    endpoint: str | None  # host[:port] of an S3-compatible server (None: AWS)
    use_ssl: bool
    path_style: bool
    retries: int
    timeout: int


def settings(env=os.environ) -> S3Settings:
    """The store's settings from ``env`` (see the module's docstring).

    Raises:
        ValueError: a setting that cannot be used (an endpoint that is not a URL, a bad number).
    """
    endpoint, use_ssl = env.get("AWS_ENDPOINT_URL_S3") or env.get("AWS_ENDPOINT_URL"), True
    if endpoint:
        u = urlparse(endpoint)
        if u.scheme not in ("http", "https") or not u.hostname:
            raise ValueError(f"AWS_ENDPOINT_URL={endpoint!r}: not an http(s)://host[:port] URL")
        endpoint, use_ssl = u.netloc, u.scheme == "https"
    if bool(env.get("AWS_ACCESS_KEY_ID")) != bool(env.get("AWS_SECRET_ACCESS_KEY")):
        raise ValueError("AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY go together: set both (or neither, "
                         "for a public bucket)")
    style = env.get("AWS_S3_ADDRESSING_STYLE", "path" if endpoint else "virtual")
    if style not in ("path", "virtual", "auto"):
        raise ValueError(f"AWS_S3_ADDRESSING_STYLE={style!r}: path or virtual")
    return S3Settings(env.get("AWS_ACCESS_KEY_ID"), env.get("AWS_SECRET_ACCESS_KEY"), env.get("AWS_SESSION_TOKEN"),
                      env.get("AWS_REGION") or env.get("AWS_DEFAULT_REGION") or "us-east-1", endpoint, use_ssl,
                      style == "path" or (style == "auto" and bool(endpoint)),
                      _number(env, RETRIES, 4), _number(env, TIMEOUT, 30))


def _number(env, name: str, default: int) -> int:
    value = env.get(name, str(default))
    if not value.isdigit():
        raise ValueError(f"{name}={value!r}: not a whole number")
    return int(value)


def _literal(value: str) -> str:
    return "'" + str(value).replace("'", "''") + "'"


def duckdb_secret(con: duckdb.DuckDBPyConnection, s: S3Settings | None = None) -> None:
    """Give ``con`` (httpfs loaded) the store's settings: a temporary secret, which lives in
    this connection only and which ``duckdb_secrets()`` shows redacted; and its retries."""
    s = s or settings()
    options = {"REGION": s.region, "URL_STYLE": "path" if s.path_style else "vhost"}
    if s.key_id:
        options.update(KEY_ID=s.key_id, SECRET=s.secret or "")
    if s.session_token:
        options["SESSION_TOKEN"] = s.session_token
    if s.endpoint:
        options["ENDPOINT"] = s.endpoint
    body = ", ".join(f"{k} {_literal(v)}" for k, v in options.items())
    # (a secret's options take no parameters; the statement is this process's, never logged)
    con.execute(f"CREATE OR REPLACE TEMPORARY SECRET frus_store (TYPE s3, {body}, "
                f"USE_SSL {'true' if s.use_ssl else 'false'})")
    con.execute(f"SET http_retries = {s.retries}")
    con.execute(f"SET http_timeout = {s.timeout}")
    con.execute("SET http_retry_wait_ms = 250")  # (then 1 s, 4 s, 16 s: backoff 4)


def filesystem(s: S3Settings | None = None):
    """A pyarrow S3 file system with the store's settings (paths: ``bucket/key``)."""
    from pyarrow import fs

    s = s or settings()
    return fs.S3FileSystem(
        access_key=s.key_id, secret_key=s.secret, session_token=s.session_token, region=s.region,
        endpoint_override=s.endpoint, scheme="https" if s.use_ssl else "http",
        force_virtual_addressing=not s.path_style and s.endpoint is not None,
        request_timeout=s.timeout, connect_timeout=min(s.timeout, 10),
        retry_strategy=fs.AwsStandardS3RetryStrategy(max_attempts=s.retries + 1))


def fs_path(url: str) -> str:
    """``s3://bucket/key`` as a pyarrow file system's path, ``bucket/key``."""
    return url.split("://", 1)[1].rstrip("/")
