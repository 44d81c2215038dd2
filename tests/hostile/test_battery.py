"""The battery of bad input: every kind beside two good volumes, through the real flow.

One source folder holds the two good volumes and every bad file; a second folder, ingested
after it, holds the files that claim ids the first one holds. Each case is then checked on
what the run reported and stored:

- refused: exactly one failure line, naming the file, on one line, with its reason; and the
  same reason in the ``rejects`` view;
- accepted (valid input that merely looks odd: a BOM, UTF-16, a DOCTYPE naming an external
  DTD that is never loaded, an XInclude that is never followed): its documents are stored.

For all cases together: the good volumes' documents are all there, nothing was written
outside the data root, and no line of /etc/passwd is anywhere in the data root.
"""
from __future__ import annotations

import os
import random
import shutil
from dataclasses import dataclass
from pathlib import Path

import pytest

from flows.ingest import run_ingest
from warehouse import db

pytestmark = pytest.mark.usefixtures("prefect_api")  # every test runs a flow

GOOD = ["frus1894Nicaragua.xml", "frus1873p2v3.xml"]
TEI_NS = 'xmlns="http://www.tei-c.org/ns/1.0"'
PASSWD = Path("/etc/passwd")
IDNO = ('<teiHeader><fileDesc><publicationStmt><idno type="frus">{}</idno></publicationStmt>'
        "</fileDesc></teiHeader>")


def tei(volume_id: str | None, body: str | None = None, head: str = "") -> str:
    """A small TEI volume of our own (two documents unless ``body`` says otherwise)."""
    vid = f' xml:id="{volume_id}"' if volume_id is not None else ""
    body = body if body is not None else (
        '<div type="document" xml:id="d1" n="1"><head>No. 1. Mr. Able to Mr. Baker.</head>'
        "<p>The harbour of Bluefields was quiet all week, and the consul reported no unrest.</p></div>"
        '<div type="document" xml:id="d2" n="2"><head>No. 2. Mr. Baker to Mr. Able.</head>'
        "<p>Your despatch of the fourth instant has been received and read with interest.</p></div>")
    return (f'<?xml version="1.0" encoding="UTF-8"?>\n{head}<TEI {TEI_NS}{vid}><teiHeader/>'
            f"<text><body>{body}</body></text></TEI>\n")


@dataclass(frozen=True)
class Case:
    name: str  # the file's name in the source folder
    expect: str  # refused | accepted
    reason: str = ""  # a fragment of the reason (refused)
    folder: str = "src"  # src (first ingest) or forge (second, from another folder)


def _write(root: Path, volumes_dir: Path) -> list[Case]:
    """Write every case into ``root/src`` and ``root/forge``; returns the cases."""
    src, forge = root / "src", root / "forge"
    src.mkdir()
    forge.mkdir()
    for name in GOOD:
        shutil.copy2(volumes_dir / name, src / name)
    good = (volumes_dir / GOOD[1]).read_bytes()
    rng = random.Random(7)
    files: dict[str, bytes] = {
        "malformed.xml": f"<TEI {TEI_NS}><text><body><div><p>oops</div></body></text></TEI>".encode(),
        "truncated.xml": good[: len(good) // 2],
        "empty.xml": b"",
        "non-utf8.xml": tei("frusbadbytes").replace("harbour", "harb\udcffour").encode("utf-8", "surrogateescape"),
        "bom.xml": b"\xef\xbb\xbf" + tei("frusbom").encode(),
        "utf16.xml": tei("frusutf16").replace('encoding="UTF-8"', 'encoding="UTF-16"').encode("utf-16"),
        "xxe.xml": tei("frusxxe", head=f'<!DOCTYPE TEI [<!ENTITY x SYSTEM "file://{PASSWD}">]>\n').replace(
            "quiet all week", "quiet &x; all week").encode(),
        "billion-laughs.xml": tei("fruslol", head="<!DOCTYPE TEI [<!ENTITY a \"aaaaaaaaaa\">"
                                  + "".join(f'<!ENTITY {chr(98 + i)} "{("&" + chr(97 + i) + ";") * 10}">'
                                            for i in range(8)) + "]>\n").replace(
            "quiet all week", "quiet &i; all week").encode(),
        "external-dtd.xml": tei("frusdtd", head=f'<!DOCTYPE TEI SYSTEM "file://{PASSWD}">\n').encode(),
        "xinclude.xml": tei("frusxinclude").replace(
            "<p>The harbour", f'<p><xi:include xmlns:xi="http://www.w3.org/2001/XInclude" href="{PASSWD}" '
            'parse="text"/>The harbour').encode(),
        "no-ids.xml": tei(None).encode(),
        "duplicate-ids.xml": tei("frusdupids").replace('xml:id="d2"', 'xml:id="d1"').encode(),
        "no-documents.xml": tei("frusnodocs", "<div type=\"chapter\"><head>Preface</head><p>Text.</p></div>").encode(),
        "html.xml": b"<!DOCTYPE html><html><head><title>404</title></head><body>Not found</body></html>",
        "binary.xml": bytes(rng.randrange(256) for _ in range(4096)),
        "garbage.xml": b"this is not XML at all, just words\n" * 20,
        "traversal.xml": tei(None).replace("<teiHeader/>", IDNO.format("../../escape")).encode(),
        "slash-id.xml": tei(None).replace("<teiHeader/>", IDNO.format("a/b")).encode(),
        "slash-xml-id.xml": tei("a/b").encode(),
        "bad-document-id.xml": tei("frusbaddocid").replace('xml:id="d2"', 'xml:id="d\u00b72"').encode(),
        "long-id.xml": tei("frus" + "x" * 80).encode(),
    }
    for name, data in files.items():
        (src / name).write_bytes(data)
    # Another folder claims the id a good volume of the first folder holds.
    (forge / "forged.xml").write_bytes(good.replace(b'xml:id="frus1873p2v3"', b'xml:id="frus1894Nicaragua"', 1))
    assert b'xml:id="frus1894Nicaragua"' in (forge / "forged.xml").read_bytes()
    return [
        Case("malformed.xml", "refused", "not well-formed"),
        Case("truncated.xml", "refused", "not well-formed"),
        Case("empty.xml", "refused", "not well-formed"),
        Case("non-utf8.xml", "refused", "not well-formed"),
        Case("bom.xml", "accepted"),
        Case("utf16.xml", "accepted"),
        Case("xxe.xml", "refused", "declares XML entities"),
        Case("billion-laughs.xml", "refused", ""),
        Case("external-dtd.xml", "accepted"),
        Case("xinclude.xml", "accepted"),
        Case("no-ids.xml", "refused", "no volume id"),
        Case("duplicate-ids.xml", "refused", "ID d1 already defined"),
        Case("no-documents.xml", "refused", "no documents"),
        Case("html.xml", "refused", "not"),
        Case("binary.xml", "refused", "not well-formed"),
        Case("garbage.xml", "refused", "not well-formed"),
        Case("traversal.xml", "refused", "is not a FRUS id"),
        Case("slash-id.xml", "refused", "is not a FRUS id"),
        Case("slash-xml-id.xml", "refused", "is not an NCName"),
        Case("bad-document-id.xml", "accepted"),  # an NCName, not a FRUS id: a reject (below)
        Case("long-id.xml", "refused", "is not a FRUS id"),
        Case("forged.xml", "refused", "volume id frus1894Nicaragua is already held by", folder="forge"),
    ]


@pytest.fixture(scope="module")
def battery(tmp_path_factory, volumes_dir: Path):
    root = tmp_path_factory.mktemp("battery")
    cases = _write(root, volumes_dir)
    reference = root / "reference"
    shutil.copytree(root / "src", reference, ignore=lambda d, names: [n for n in names if n not in GOOD])
    ref_data = root / "ref-data"
    run_ingest(source=str(reference), data_dir=str(ref_data), workers=1)
    before = _listing(root.parent)
    data = root / "data"
    first = run_ingest(source=str(root / "src"), data_dir=str(data), workers=2)
    second = run_ingest(source=str(root / "forge"), data_dir=str(data), workers=1)
    return {"root": root, "data": data, "cases": {c.name: c for c in cases},
            "failures": first["failures"] + second["failures"], "runs": (first, second),
            "reference": ref_data, "before": before}


def _listing(path: Path) -> set[str]:
    return {p.name for p in path.iterdir()}


CASE_NAMES = ["malformed.xml", "truncated.xml", "empty.xml", "non-utf8.xml", "bom.xml", "utf16.xml",
              "xxe.xml", "billion-laughs.xml", "external-dtd.xml", "xinclude.xml", "no-ids.xml",
              "duplicate-ids.xml", "no-documents.xml", "html.xml", "binary.xml", "garbage.xml",
              "traversal.xml", "slash-id.xml", "slash-xml-id.xml", "bad-document-id.xml", "long-id.xml",
              "forged.xml"]


@pytest.mark.parametrize("name", CASE_NAMES)
def test_each_case_is_refused_naming_the_file_or_stored(battery, name: str):
    case = battery["cases"][name]
    lines = [f for f in battery["failures"] if f.startswith(f"{name}: ")]
    if case.expect == "refused":
        assert len(lines) == 1, battery["failures"]
        (line,) = lines
        assert "\n" not in line and "\r" not in line
        assert case.reason in line
        uri = (battery["root"] / case.folder / name).as_uri()
        reasons = db.query(battery["data"], "SELECT reason FROM rejects WHERE source_uri = ?", [uri])[1]
        assert len(reasons) == 1 and case.reason in reasons[0][0]
    else:
        assert not lines
        uri = (battery["root"] / "src" / name).as_uri()
        docs = db.query(battery["data"], "SELECT count(*) FROM document_versions WHERE source_uri = ?", [uri])[1]
        assert docs[0][0] >= 1


def test_runs_report_their_failures(battery):
    first, second = battery["runs"]
    refused = [c for c in battery["cases"].values() if c.expect == "refused"]
    assert first["status"] == "partial" and first["items_failed"] == sum(c.folder == "src" for c in refused)
    assert second["status"] == "failed" and second["items_failed"] == 1


def test_the_good_volumes_are_whole(battery):
    want = db.query(battery["reference"], "SELECT doc_key, text FROM documents ORDER BY doc_key")[1]
    got = db.query(battery["data"], "SELECT doc_key, text FROM documents WHERE volume_id IN "
                   "('frus1894Nicaragua', 'frus1873p2v3') ORDER BY doc_key")[1]
    assert got == want and len(want) > 150
    versions = db.query(battery["data"], "SELECT count(*) FROM document_versions WHERE volume_id IN "
                        "('frus1894Nicaragua', 'frus1873p2v3')")[1]
    assert versions == [(138 + 23,)]


def test_a_forged_volume_id_takes_nothing(battery):
    rows = db.query(battery["data"], "SELECT DISTINCT source_uri FROM document_versions "
                    "WHERE volume_id = 'frus1894Nicaragua'")[1]
    assert rows == [((battery["root"] / "src" / "frus1894Nicaragua.xml").as_uri(),)]
    assert db.query(battery["data"], "SELECT count(*) FROM volumes WHERE volume_id = 'frus1894Nicaragua'")[1] == [(1,)]


def test_a_bad_document_id_is_a_reject_and_its_volume_stays(battery):
    uri = (battery["root"] / "src" / "bad-document-id.xml").as_uri()
    docs = db.query(battery["data"], "SELECT doc_key FROM document_versions WHERE source_uri = ?", [uri])[1]
    assert docs == [("frusbaddocid/d1",)]
    rejects = db.query(battery["data"], "SELECT place, reason FROM rejects WHERE source_uri = ?", [uri])[1]
    assert rejects == [("frusbaddocid document 'd\u00b72'", "document id is not a FRUS id: not stored")]


def test_nothing_is_written_outside_the_data_root(battery):
    root = battery["root"]
    assert _listing(root.parent) == battery["before"]  # (the battery's own folder was there already)
    assert _listing(root) == {"src", "forge", "reference", "ref-data", "data"}
    assert not any(p.name == "escape" for p in root.parent.parent.rglob("escape"))


def test_no_line_of_etc_passwd_is_in_the_data_root(battery):
    secret = [ln for ln in PASSWD.read_text().splitlines() if ln.strip()]
    assert secret
    needles = [s.encode() for s in secret[:3]]
    for path in battery["data"].rglob("*"):
        if path.is_file() and not path.is_symlink():
            data = path.read_bytes()
            assert not any(n in data for n in needles), path
    for sql in ("SELECT text FROM document_versions", "SELECT text FROM part_rows",
                "SELECT text FROM footnote_rows", "SELECT reason FROM rejects", "SELECT message FROM runs"):
        for (value,) in db.query(battery["data"], sql)[1]:
            assert not any(s in (value or "") for s in secret[:3]), (sql, value)


def test_the_xinclude_and_external_dtd_are_not_followed(battery):
    for name in ("xinclude.xml", "external-dtd.xml"):
        uri = (battery["root"] / "src" / name).as_uri()
        texts = db.query(battery["data"], "SELECT text FROM document_versions WHERE source_uri = ?", [uri])[1]
        assert texts and all("root:" not in t for (t,) in texts)
    assert os.path.exists(PASSWD)
