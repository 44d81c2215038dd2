"""HTTP source against a real local server with injectable faults (127.0.0.1, port 0)."""
from __future__ import annotations

import hashlib
import logging
import os
import shutil
from collections import Counter

import pytest

from tasks.sources import FetchError, open_source
from tasks.sources.http import HttpSource
from tests.http_server import serving

pytestmark = pytest.mark.slow  # a local HTTP server

FAST = {"retries": 5, "backoff": 0.01, "timeout": 0.5, "connect_timeout": 0.5}
VOLUMES = ["frus1861.xml", "frus1894Nicaragua.xml", "frus1872p2v5.xml"]


@pytest.fixture
def served(tmp_path, volumes_dir):
    root = tmp_path / "www"
    root.mkdir()
    for name in VOLUMES:
        shutil.copy(volumes_dir / name, root / name)
    with serving(root) as server:
        yield server


@pytest.fixture
def data(tmp_path):
    return tmp_path / "data"


@pytest.fixture
def http(data):
    """Open sources with fast retry settings (overridable); close them at teardown."""
    opened = []

    def make(uri, **options):
        source = open_source(uri, data, **{**FAST, **options})
        opened.append(source)
        return source

    yield make
    for source in opened:
        source.close()


def raw_files(data):
    raw = data / "raw"
    return sorted(p.name for p in raw.rglob("*") if p.is_file()) if raw.exists() else []


def sha(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


def one(source):
    (item,) = source.scan()
    return item


def test_retries_survive_every_transient_fault(served, http, data):
    served.faults["/v/frus1861.xml"] = ["500", "500", "reset", "slow", "truncate"]
    source = http(f"{served.url}/v/frus1861.xml")
    fetched = source.fetch(one(source))
    assert fetched.sha256 == sha(served.root / "frus1861.xml")
    assert fetched.path.read_bytes() == (served.root / "frus1861.xml").read_bytes()
    assert raw_files(data) == [fetched.sha256]  # the truncated attempt left nothing
    gets = [s for m, p, s in served.requests if m == "GET"]
    assert gets == [500, 500, 0, 200, 200]  # reset, slow (timed out), truncated, good


def test_429_honours_retry_after(served, http, data, caplog):
    served.faults["/v/frus1861.xml"] = ["429"]
    source = http(f"{served.url}/v/frus1861.xml")
    item = one(source)
    with caplog.at_level(logging.INFO, logger="tasks.sources.http"):
        fetched = source.fetch(item)
    # waited the server's Retry-After: 1, not the 10 ms backoff
    assert [r.getMessage() for r in caplog.records if "retry" in r.getMessage()] == [
        f"{served.url}/v/frus1861.xml: HTTP 429; retry 1 in 1.00s"]
    assert fetched.sha256 == sha(served.root / "frus1861.xml")


@pytest.mark.parametrize("mode", ["v", "lm"])  # ETag / If-None-Match; Last-Modified only
def test_conditional_get_downloads_once(served, data, mode):
    path = f"/{mode}/frus1894Nicaragua.xml"
    with open_source(served.url + path, data, **FAST) as source:  # closes its client
        item = one(source)
        assert item.version.startswith("etag:" if mode == "v" else "lm:")
        first = source.fetch(item)
        assert one(source).version == item.version  # unchanged: same cheap version
        second = source.fetch(item)
    assert second == first
    assert served.bodies[path] == 1  # the second GET was a 304
    assert [s for m, p, s in served.requests if m == "GET"] == [200, 304]
    assert (data / "state" / "http.json").is_file()

    # The file changes upstream: new version in scan, new bytes on fetch.
    target = served.root / "frus1894Nicaragua.xml"
    target.write_bytes(target.read_bytes() + b"\n<!-- erratum -->\n")
    stat = target.stat()
    time_ns = stat.st_mtime_ns + 5 * 10**9  # Last-Modified has 1 s resolution
    os.utime(target, ns=(time_ns, time_ns))
    with open_source(served.url + path, data, **FAST) as source:  # closes its client
        changed = one(source)
        assert changed.version != item.version
        third = source.fetch(changed)
    assert third.sha256 == sha(target) != first.sha256
    assert served.bodies[path] == 2


def test_truncated_body_never_lands(served, http, data):
    served.faults["/v/frus1861.xml"] = ["truncate"] * 3
    source = http(f"{served.url}/v/frus1861.xml", retries=2)
    with pytest.raises(FetchError, match="frus1861.xml") as err:
        source.fetch(one(source))
    assert "truncated" in str(err.value) or "RemoteProtocolError" in str(err.value)
    assert raw_files(data) == []  # neither a blob nor a temp file
    assert not (data / "state" / "http.json").exists()


def test_permanent_failures_name_the_url_and_spare_the_others(served, http, tmp_path):
    served.always["/v/frus1861.xml"] = 500
    listing = tmp_path / "urls.txt"
    listing.write_text("".join(f"{served.url}/v/{n}\n" for n in [*VOLUMES, "frus1900.xml"]))
    source = http(f"urls:{listing}", retries=2)
    results, errors = {}, {}
    for item in source.scan():
        try:
            results[item.name] = source.fetch(item)
        except FetchError as exc:
            errors[item.name] = str(exc)
    assert sorted(results) == ["v/frus1872p2v5.xml", "v/frus1894Nicaragua.xml"]
    assert f"{served.url}/v/frus1861.xml" in errors["v/frus1861.xml"]
    assert "HTTP 500 (after 3 attempts)" in errors["v/frus1861.xml"]
    assert "HTTP 404" in errors["v/frus1900.xml"]
    gets = Counter(p for m, p, s in served.requests if m == "GET")
    assert gets["/v/frus1861.xml"] == 3 and gets["/v/frus1900.xml"] == 1  # 404: no retry
    for name, fetched in results.items():
        assert fetched.sha256 == sha(served.root / name.removeprefix("v/"))


@pytest.mark.parametrize("mode", ["v", "nolength"])  # refused by Content-Length / mid-stream
def test_size_limit(served, http, data, mode):
    source = http(f"{served.url}/{mode}/frus1861.xml", max_size=100_000)
    with pytest.raises(FetchError, match="size limit"):
        source.fetch(one(source))
    assert raw_files(data) == []
    assert sum(1 for m, p, s in served.requests if m == "GET") == 1  # not retried


def test_body_without_length_lands(served, http, data):
    source = http(f"{served.url}/nolength/frus1872p2v5.xml")
    fetched = source.fetch(one(source))
    assert fetched.sha256 == sha(served.root / "frus1872p2v5.xml")


def test_base_url_and_url_lists(served, http, data, tmp_path):
    base = http(f"{served.url}/v", volumes=["frus1861", "frus1872p2v5"])
    assert isinstance(base, HttpSource)
    assert [i.uri for i in base.scan()] == [
        f"{served.url}/v/frus1861.xml", f"{served.url}/v/frus1872p2v5.xml"]
    with pytest.raises(ValueError, match="no listing"):
        http(f"{served.url}/v", volumes=["frus18*"])
    listing = tmp_path / "urls.txt"
    listing.write_text("# volumes\n" + "".join(f"{served.url}/v/{n}  # x\n\n" for n in VOLUMES))
    source = http(f"urls:{listing}", volumes=["frus186*", "*Nicaragua"])
    assert [i.name for i in source.scan()] == ["v/frus1861.xml", "v/frus1894Nicaragua.xml"]
    unverified = http(f"{served.url}/v/frus1861.xml", head=False)
    assert one(unverified).version.startswith("unverified:")


def test_bad_urls_and_damaged_state(served, http, data):
    with pytest.raises(ValueError, match="unsupported source"):
        open_source("ftp://127.0.0.1/frus1861.xml", data)
    with HttpSource("ftp://127.0.0.1/frus1861.xml", data, backoff=5) as source:  # no retry
        with pytest.raises(FetchError, match="ftp://127.0.0.1/frus1861.xml"):
            source.fetch(one(source))
    (data / "state").mkdir(parents=True)
    (data / "state" / "http.json").write_text("{not json")
    good = http(f"{served.url}/v/frus1872p2v5.xml")
    fetched = good.fetch(one(good))  # an unreadable cache means a download, not a failure
    assert fetched.sha256 == sha(served.root / "frus1872p2v5.xml")
    assert good.fetch(one(good)) == fetched
    assert served.bodies["/v/frus1872p2v5.xml"] == 1
