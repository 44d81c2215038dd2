"""Issue 8: a source folder may hold anything; only regular files inside it are read.

A tmp source folder holds two good volumes (the two smallest of the corpus, one of them
through a symlink inside the folder), good page texts, and one of each hostile case. Each bad
item fails alone with a one-line reason naming its source file; nothing outside the folder is
read, nothing outside the data root is written, and no line of /etc/passwd reaches the data.
"""
from __future__ import annotations

import os
import shutil
import signal
import socket
from pathlib import Path

import pytest

from tasks.normalise.page_text import MAX_PAGE_BYTES, MAX_SIDECAR_BYTES, parse_page_file
from tasks import landing
from tasks.landing import NotRegularFile, SizeLimitExceeded, land_file
from tasks.normalise import normalise_item
from tasks.sources import FetchError, printable, quoted
from tasks.sources.local import LocalSource
from tasks.errors import FrusError

PASSWD = Path("/etc/passwd")
SECRET = PASSWD.read_bytes().split(b"\n", 1)[0] if PASSWD.is_file() else b"root:x:0:0:"
PAGE = "Editorial Note\n\nThe Department took no action.\n"
URL = "https://history.state.gov/historicaldocuments/frus1938v03/d{}\n"
NEWLINE = "bad\nname.xml"
CAFE = os.fsdecode(b"caf\xe9.txt")  # a file name that is not UTF-8

# name in the source -> (where it fails, what the reason says); fetch fails before landing
FETCH_FAILS = {
    "p.xml": "not a regular file (a FIFO)",
    "s.xml": "not a regular file (a socket)",
    "z.xml": "a symlink to outside the source folder",
    "pw.xml": "a symlink to outside the source folder",
    "far.xml": "a symlink to outside the source folder",
    "big.txt": f"over the size limit of {MAX_PAGE_BYTES} bytes",
    "long.txt": f"over the size limit of {MAX_PAGE_BYTES} bytes",
}
NORMALISE_FAILS = {
    "latin1.txt": "not UTF-8",
    "empty.txt": "empty page text",
    "page.txt": "URL sidecar page.url: a symlink to outside the page's folder",
    "noise.txt": "URL sidecar noise.txt.url: not a history.state.gov document URL: 'xxx",
    printable(NEWLINE): "not well-formed XML",
}


def smallest_volumes(volumes_dir: Path) -> list[Path]:
    return sorted(volumes_dir.glob("*.xml"), key=lambda p: p.stat().st_size)[:2]


def build(root: Path, volumes_dir: Path) -> Path:
    """``root/src`` (the source) and ``root/outside`` (what it must not reach)."""
    src, outside = root / "src", root / "outside"
    (src / ".store").mkdir(parents=True)
    outside.mkdir()
    first, second = smallest_volumes(volumes_dir)
    shutil.copy(first, src / first.name)
    shutil.copy(second, src / ".store" / second.name)  # hidden: reached only through the link
    (src / second.name).symlink_to(Path(".store") / second.name)  # inside the folder: allowed
    (outside / "secret.xml").write_bytes(SECRET)
    (src / "outdir").symlink_to(outside, target_is_directory=True)  # a folder outside: skipped
    (src / "far.xml").symlink_to(outside / "secret.xml")
    (src / "z.xml").symlink_to("/dev/zero")
    (src / "pw.xml").symlink_to(PASSWD)
    os.mkfifo(src / "p.xml")
    (src / "d.xml").mkdir()  # a folder with an item's name: searched, not an item
    with socket.socket(socket.AF_UNIX) as sock:
        sock.bind(str(src / "s.xml"))
    with open(src / "big.txt", "wb") as f:  # sparse: 4 MiB + 1 announced, nothing on disk
        f.truncate(MAX_PAGE_BYTES + 1)
    (src / "long.txt").write_text("Mr. Fish to Mr. Adams\n\n" + "word " * (MAX_PAGE_BYTES // 5 + 1))
    (src / "latin1.txt").write_bytes("Charg\u00e9 d\u2019Affaires\n\nBody.\n".encode("cp1252"))
    (src / "empty.txt").write_bytes(b"")
    (src / "page.txt").write_text(PAGE)
    (src / "page.url").symlink_to(PASSWD)  # the sidecar must not leak the file it points to
    (src / "noise.txt").write_text(PAGE)
    (src / "noise.txt.url").write_text("x" * 300 + "\n")
    (src / NEWLINE).write_text("not xml at all")
    (src / "good.txt").write_text(PAGE)
    (src / "good.url").write_text(URL.format(998))
    (src / CAFE).write_text(PAGE)
    (src / CAFE).with_suffix(".url").write_text(URL.format(999))
    return src


GOOD = {"good.txt": "frus1938v03/d998", printable(CAFE): "frus1938v03/d999"}


@pytest.fixture(autouse=True)
def deadline():
    """A hang (a FIFO opened for reading blocks) fails the test instead of the suite."""
    def timeout(*_):
        raise TimeoutError("hung: a file was opened that should not have been")

    old = signal.signal(signal.SIGALRM, timeout)
    signal.alarm(600)
    yield
    signal.alarm(0)
    signal.signal(signal.SIGALRM, old)


@pytest.fixture(scope="module")
def src(tmp_path_factory, volumes_dir) -> Path:
    return build(tmp_path_factory.mktemp("hostile"), volumes_dir)


def one_line_naming(message: str, item) -> None:
    assert "\n" not in message and "\r" not in message, message
    assert message.startswith(item.uri + ": "), message  # the source file, not DATA/raw
    assert "/raw/" not in message and SECRET.decode() not in message and "root:" not in message


def test_scan_lists_each_file_once_and_skips_folders_outside(src, tmp_path, volumes_dir, caplog):
    items = {i.name: i for i in LocalSource(str(src), tmp_path / "data").scan()}
    first, second = (p.name for p in smallest_volumes(volumes_dir))
    assert sorted(items) == sorted([first, second, *FETCH_FAILS, *NORMALISE_FAILS, *GOOD])
    assert items[printable(NEWLINE)].name == "bad\\nname.xml"  # one line in every log
    assert items[printable(NEWLINE)].uri.endswith("/bad%0Aname.xml")
    assert items["pw.xml"].version.startswith("outside:")  # not /etc/passwd's size and mtime
    assert "d.xml" not in items and not any(n.startswith("outdir/") for n in items)
    assert "outdir: a symlinked folder outside the source folder: skipped" in caplog.text
    assert not (tmp_path / "data").exists()  # scanning writes nothing


@pytest.mark.parametrize("name", sorted(FETCH_FAILS))
def test_fetch_refuses_without_reading(src, tmp_path, name):
    source = LocalSource(str(src), tmp_path / "data")
    item = next(i for i in source.scan() if i.name == name)
    with pytest.raises(FetchError) as caught:
        source.fetch(item)
    one_line_naming(str(caught.value), item)
    assert FETCH_FAILS[name] in str(caught.value)
    raw = tmp_path / "data" / "raw"
    assert not raw.exists() or not [p for p in raw.rglob("*") if p.is_file()]  # nothing landed


@pytest.mark.parametrize("name", sorted(NORMALISE_FAILS))
def test_normalise_refuses_naming_the_source_file(src, tmp_path, name):
    source = LocalSource(str(src), tmp_path / "data")
    item = next(i for i in source.scan() if i.name == name)
    fetched = source.fetch(item)
    with pytest.raises(FrusError) as caught:
        normalise_item(fetched)
    message = str(caught.value)
    one_line_naming(message, item)
    assert NORMALISE_FAILS[name] in message and str(fetched.path) not in message
    assert len(message) < len(item.uri) + 200  # content quoted: at most 80 characters


def test_good_items_are_unaffected(src, tmp_path, volumes_dir):
    source = LocalSource(str(src), tmp_path / "data")
    items = {i.name: i for i in source.scan()}
    for path in smallest_volumes(volumes_dir):
        parsed = normalise_item(source.fetch(items[path.name]))
        assert parsed.volume.volume_id == path.stem and len(parsed.documents) > 20
    for name, key in GOOD.items():
        (doc,) = normalise_item(source.fetch(items[name])).documents
        assert doc.doc_key == key


def test_follow_links_widens_to_anywhere_but_still_regular_files_only(src, tmp_path):
    source = LocalSource(str(src), tmp_path / "data", follow_links=True)
    items = {i.name: i for i in source.scan()}
    assert "outdir/secret.xml" in items  # the folder outside is searched
    assert source.fetch(items["far.xml"]).path.read_bytes() == SECRET
    for name, kind in [("z.xml", "a character device"), ("p.xml", "a FIFO"), ("s.xml", "a socket")]:
        with pytest.raises(FetchError, match=rf"{name}: not a regular file \({kind}\)$"):
            source.fetch(items[name])


def test_a_small_max_size_holds_for_every_item(src, tmp_path):
    source = LocalSource(str(src), tmp_path / "data", max_size=100)
    items = {i.name: i for i in source.scan()}
    for name in ("good.txt", "latin1.txt"):  # under 100 bytes: landed
        source.fetch(items[name])
    with pytest.raises(FetchError, match=r"over the size limit of 100 bytes"):
        source.fetch(items["long.txt"])


def test_the_size_limit_holds_while_streaming(tmp_path):
    # /proc files announce 0 bytes: only the streamed count can stop them
    assert Path("/proc/self/status").stat().st_size == 0
    with pytest.raises(SizeLimitExceeded, match="exceeds the size limit of 10 bytes"):
        land_file(tmp_path, "/proc/self/status", max_size=10)
    assert [p for p in (tmp_path / "raw").rglob("*") if p.is_file()] == []


def test_a_fifo_swapped_in_after_the_check_is_refused_on_the_descriptor(tmp_path, monkeypatch):
    regular, fifo = tmp_path / "regular.xml", tmp_path / "p.xml"
    regular.write_text("<TEI/>")
    os.mkfifo(fifo)
    real_stat = os.stat
    # the race: the stat before the open still saw a regular file
    monkeypatch.setattr(landing.os, "stat", lambda p, **kw: real_stat(regular if Path(p) == fifo else p, **kw))
    with pytest.raises(NotRegularFile, match=r"not a regular file \(a FIFO, swapped in"):
        land_file(tmp_path / "data", fifo)  # opened non-blocking: no writer, no hang


def test_a_file_opened_outside_its_folder_is_refused(tmp_path):
    (tmp_path / "in").mkdir()
    (tmp_path / "out.xml").write_text("<TEI/>")
    with pytest.raises(NotRegularFile, match="moved outside its folder"):
        land_file(tmp_path / "data", tmp_path / "out.xml", within=tmp_path / "in")
    assert land_file(tmp_path / "data", tmp_path / "out.xml", within=tmp_path).size == 6


def test_page_file_rules_hold_when_read_directly(tmp_path):
    big = tmp_path / "big.txt"
    with open(big, "wb") as f:
        f.truncate(MAX_PAGE_BYTES + 1)
    with pytest.raises(ValueError, match=r"big\.txt: .*over the size limit"):
        parse_page_file(big)
    os.mkfifo(tmp_path / "fifo.txt")
    with pytest.raises(ValueError, match=r"fifo\.txt: not a regular file \(a FIFO\)"):
        parse_page_file(tmp_path / "fifo.txt")
    page = tmp_path / "page.txt"
    page.write_text(PAGE)
    side = tmp_path / "page.url"
    side.write_text(URL.format(1) + "#" * MAX_SIDECAR_BYTES)
    with pytest.raises(ValueError, match=r"page\.url: .*over the size limit of 4096 bytes"):
        parse_page_file(page)
    side.unlink()
    os.mkfifo(side)
    with pytest.raises(ValueError, match=r"page\.url: not a regular file \(a FIFO\)"):
        parse_page_file(page)
    side.unlink()
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "real.url").write_text(URL.format(7))
    side.symlink_to(tmp_path / "sub" / "real.url")  # inside the page's folder: followed
    assert parse_page_file(page).doc_key == "frus1938v03/d7"


def test_helpers_render_names_and_content_on_one_line():
    assert printable("a\nb\x1b\u2028.xml") == "a\\nb\\x1b\\u2028.xml"
    assert printable(CAFE) == "caf\\udce9.txt" and printable("frus1861.xml") == "frus1861.xml"
    assert printable(printable("a\nb")) == "a\\nb"
    assert quoted("ab\ncd") == "'ab?cd'"
    assert quoted("y" * 300) == repr("y" * 80 + "…")
    assert quoted(b"\xff" + SECRET * 10).count(":") < 20


@pytest.mark.usefixtures("prefect_api")  # runs a flow
def test_the_flow_ingests_the_good_and_records_the_bad(tmp_path, volumes_dir):
    from flows import ingest as flow_module
    from warehouse import db

    run_ingest = flow_module.run_ingest
    src = build(tmp_path, volumes_dir)
    listing = sorted(os.listdir(src))
    data = tmp_path / "data"
    summary = run_ingest(source=str(src), data_dir=str(data), workers=1)
    bad = {**FETCH_FAILS, **NORMALISE_FAILS}
    assert summary["status"] == "partial"
    assert (summary["items_failed"], summary["items_new"]) == (len(bad), 2 + len(GOOD))
    failures = {f.split(": ", 1)[0]: f for f in summary["failures"]}
    assert sorted(failures) == sorted(bad)
    for name, reason in bad.items():
        line = failures[name]
        assert "\n" not in line and reason in line and "/raw/" not in line, line

    # the good volumes' documents are all there
    expected = {}
    for path in smallest_volumes(volumes_dir):
        source = LocalSource(str(path), tmp_path / "scratch")
        expected[path.stem] = len(normalise_item(source.fetch(source.scan()[0])).documents)
    shutil.rmtree(tmp_path / "scratch")
    counts = dict(db.query(data, "SELECT volume_id, count(*) FROM document_versions GROUP BY ALL")[1])
    assert {v: counts.get(v) for v in expected} == expected
    keys = {r[0] for r in db.query(data, "SELECT doc_key FROM document_versions")[1]}
    assert set(GOOD.values()) <= keys

    # one reject per bad item, naming it, no secret
    reasons = [r[0] for r in db.query(data, "SELECT reason FROM rejects WHERE source_sha256 IS NULL")[1]]
    assert len(reasons) == len(bad)
    assert all("\n" not in r and "root:" not in r and "/raw/" not in r for r in reasons), reasons
    everything = [r[0] for r in db.query(data, "SELECT reason FROM rejects")[1]]
    assert not any("root:" in r for r in everything)

    # nothing written outside the data root, the source untouched, no secret in any file
    assert sorted(os.listdir(tmp_path)) == ["data", "outside", "src"]
    assert sorted(os.listdir(src)) == listing
    for path in data.rglob("*"):
        if path.is_file() and not path.is_symlink():
            content = path.read_bytes()
            assert SECRET not in content and b"root:x:" not in content, path
