"""Deduplication on real FRUS documents: hashes, variants, look-alikes, cross-source, re-ingest."""
from __future__ import annotations

from collections import defaultdict
from dataclasses import replace

import numpy as np
import pytest
from datasketch import MinHash

from tasks.dedupe import (
    DedupeDoc, canonical_words, conflict, content_hash, dedupe_input, find_duplicates,
    match_cross_source, minhash, minhash_signature, preferred_versions, shingle_hashes,
)
from tasks.normalise.page_text import parse_page_file
from tasks.normalise.tei import parse_volume

VOLUMES = ("frus1861", "frus1864p3", "frus1872p2v2", "frus1897", "frus1901")


@pytest.fixture(scope="session")
def docs(volumes_dir, parsed_volume):
    out = {}
    for v in VOLUMES:
        for d in parsed_volume(volumes_dir / f"{v}.xml").documents:
            out[d.doc_key] = d
    return out


@pytest.fixture(scope="session")
def seed_and_d83(corpus):
    seed = parse_page_file(corpus / "seed" / "000_06e3c999c372cd2d.txt")
    d83 = parse_volume(corpus / "frus" / "excerpts" / "frus1938v03-d83.xml").documents[0]
    return seed, d83


def clusters(rows) -> dict[str, set[str]]:
    out: dict[str, set[str]] = defaultdict(set)
    for r in rows:
        out[r.cluster_id].add(r.doc_key)
    return dict(out)


def together(rows, a: str, b: str) -> bool:
    return any({a, b} <= members for members in clusters(rows).values())


from tests.variants import drop_paragraph, ocr_noise, reflow, straight_quotes, with_footnotes  # noqa: E402


def variant(doc, text: str, tag: str) -> DedupeDoc:
    base = dedupe_input(doc)
    return replace(base, doc_key=f"variant/{tag}/{doc.doc_key}", text=text, reviewed=False)


# ---------------------------------------------------------------- exact

def test_content_hash_ignores_case_quotes_punctuation_and_layout():
    a = "Reference to my telegram No. 5, January 8, 7 p.m.\n“They are trying”—to frighten."
    b = "REFERENCE to my   telegram no 5 January 8 7 p m \"they are trying\" - to frighten"
    assert content_hash(a) == content_hash(b)
    assert content_hash(a) != content_hash(a.replace("No. 5", "No. 6"))
    assert content_hash("ﬁne Ｆｕｌｌ") == content_hash("fine full")  # NFKC
    assert len(content_hash(a)) == 64


@pytest.mark.slow  # five corpus volumes
def test_exact_copy_under_another_key_is_exact(docs):
    d = docs["frus1897/d48"]  # a 40-word telegram: exact hash merges even short documents
    copy = replace(dedupe_input(d), doc_key="copy/frus1897/d48", reviewed=False,
                   text=reflow(straight_quotes(d.text)))
    rows = find_duplicates([dedupe_input(d, reviewed=True), copy])
    assert {(r.doc_key, r.method, r.similarity) for r in rows} == {
        ("frus1897/d48", "exact", 1.0), ("copy/frus1897/d48", "exact", 1.0)}
    assert {r.canonical_key for r in rows} == {"frus1897/d48"}  # reviewed beats unreviewed


# ---------------------------------------------------------------- near: variants of real documents

def _originals(docs, n: int = 12):
    pool = [d for k, d in sorted(docs.items()) if k.startswith("frus1897/")
            and 150 <= d.word_count <= 2500 and d.text.count("\n") >= 5]
    return pool[:: max(1, len(pool) // n)][:n]


@pytest.mark.slow  # five corpus volumes
def test_generated_variants_merge_with_their_originals(docs):
    originals = _originals(docs)
    assert len(originals) >= 10
    variants = []
    for i, d in enumerate(originals):
        variants += [
            variant(d, reflow(d.text), "reflow"),
            variant(d, ocr_noise(d.text, 0.01, seed=i), "ocr1"),
            variant(d, ocr_noise(d.text, 0.02, seed=100 + i), "ocr2"),
            variant(d, ocr_noise(d.text, 0.03, seed=200 + i), "ocr3"),
            variant(d, straight_quotes(d.text), "quotes"),
            variant(d, drop_paragraph(d.text), "paragraph"),
        ]
    with_notes = [d for d in originals if d.footnotes][:5]
    for d in with_notes:  # the page-text rendering prints footnotes after the text
        variants.append(variant(d, with_footnotes(d), "footnotes"))
    inputs = [dedupe_input(d) for k, d in docs.items() if k.startswith("frus1897/")] + variants
    rows = find_duplicates(inputs)
    by_key = {r.doc_key: r for r in rows}
    missed = [v.doc_key for v in variants if by_key.get(v.doc_key) is None
              or by_key[v.doc_key].canonical_key != v.doc_key.split("/", 2)[2]]
    assert missed == []
    assert {by_key[v.doc_key].method for v in variants} <= {"exact", "near"}
    # every cluster is one original and its variants: nothing else was pulled in
    for members in clusters(rows).values():
        assert len({m.split("/", 2)[2] if m.startswith("variant/") else m for m in members}) == 1


@pytest.mark.slow  # five corpus volumes
def test_real_ocr_reprint_in_another_volume_merges(docs):
    # The Alabama-claims volume reprints 1864 letters with OCR damage ("Mr. Sevoard").
    a, b = docs["frus1864p3/d212"], docs["frus1872p2v2/d14"]
    rows = find_duplicates([dedupe_input(a), dedupe_input(b)])
    assert together(rows, a.doc_key, b.doc_key)
    assert {r.method for r in rows} == {"near"}


# ---------------------------------------------------------------- look-alikes stay apart

LOOK_ALIKES = [
    ("frus1897/d444", "frus1897/d449"),  # Olney circular of 22 Dec 1896 to Uhl and to Bayard
    ("frus1901/d256", "frus1901/d347"),  # Hill, 25 Sep 1901, to Léger and to Azpíroz
    ("frus1901/d114", "frus1901/d439"),  # Hill, 25 Sep 1901, to Vasquez and to Grip
    ("frus1861/d25", "frus1861/d229"),  # Seward, 6 May 1861, to Sanford and to Wood
    ("frus1864p3/d718", "frus1864p3/d719"),  # Seward to Burlingame twice on 20 Sep 1864
    ("frus1901/d361", "frus1901/d485"),  # Hay's two-line thanks for sympathy, same day
]


@pytest.mark.slow  # five corpus volumes
def test_same_sender_same_day_look_alikes_stay_apart(docs):
    keys = {k for pair in LOOK_ALIKES for k in pair} | {"frus1901/d388", "frus1901/d401"}
    inputs = [dedupe_input(docs[k]) for k in sorted(keys)]
    for a, b in LOOK_ALIKES:  # the premise: same sender, same day
        assert docs[a].sender == docs[b].sender and docs[a].date_min == docs[b].date_min
    rows = find_duplicates(inputs)
    assert not any(together(rows, a, b) for a, b in LOOK_ALIKES)
    assert rows == []


@pytest.mark.slow  # five corpus volumes
def test_circular_bodies_differ_only_in_metadata(docs):
    a, b = dedupe_input(docs["frus1897/d444"]), dedupe_input(docs["frus1897/d449"])
    assert conflict(a, b) == "recipient"
    # without the recipient guard the texts alone would merge: the guard is what keeps them apart
    blind = find_duplicates([replace(a, recipient=None), replace(b, recipient=None)])
    assert together(blind, a.doc_key, b.doc_key)


@pytest.mark.slow  # five corpus volumes
def test_short_boilerplate_never_merges_on_near_similarity(docs):
    # Real short look-alikes: Hay's one-line thanks of 16 Sep 1901, Seward's two-line
    # acknowledgements to Dayton, Conger's one-line reports of 6 and 7 Nov 1901.
    keys = ["frus1901/d361", "frus1901/d485", "frus1901/d388", "frus1901/d401",
            "frus1864p3/d108", "frus1864p3/d119", "frus1864p3/d177", "frus1901/d96", "frus1901/d98"]
    inputs = [replace(dedupe_input(docs[k]), recipient=None, date_min=None, sender=None)
              for k in keys]  # no metadata to help: the length rule alone
    assert all(len(canonical_words(d.text)) < 50 for d in inputs)
    assert find_duplicates(inputs, threshold=0.1, ocr_floor=0.0) == []
    # a short document with a light OCR change is not merged either (exact only)
    d = inputs[0]
    noisy = replace(d, doc_key="variant/" + d.doc_key, text=d.text.replace("sympathy", "syrnpathy"))
    assert find_duplicates([d, noisy]) == []


# ---------------------------------------------------------------- cross-source

@pytest.mark.slow  # five corpus volumes
def test_seed_page_text_and_tei_d83_are_one_document(seed_and_d83, docs):
    seed, d83 = seed_and_d83
    assert seed.doc_key.startswith("hsg-text/") and seed.url is None
    [m] = match_cross_source([seed], [d83] + list(docs.values()))
    assert (m.page_key, m.tei_key, m.block) == (seed.doc_key, "frus1938v03/d83", "file_number")
    assert m.containment >= 0.95
    inputs = [dedupe_input(seed), dedupe_input(d83)] + [dedupe_input(d) for d in docs.values()]
    rows = [r for r in find_duplicates(inputs) if r.canonical_key == "frus1938v03/d83"]
    assert {r.doc_key for r in rows} == {seed.doc_key, "frus1938v03/d83"}
    assert {r.method for r in rows} == {"cross-source"}


@pytest.mark.slow  # five corpus volumes
def test_cross_source_without_file_number_falls_back_to_sender_or_text(seed_and_d83, docs):
    seed, d83 = seed_and_d83
    page = replace(dedupe_input(seed), file_number=None)
    [m] = match_cross_source([page], [dedupe_input(d83)] + [dedupe_input(d) for d in docs.values()])
    assert (m.tei_key, m.block) == ("frus1938v03/d83", "sender")
    anon = replace(page, sender=None)
    [m] = match_cross_source([anon], [dedupe_input(d83)] + [dedupe_input(d) for d in docs.values()])
    assert (m.tei_key, m.block) == ("frus1938v03/d83", "lsh")
    other = [dedupe_input(d) for d in docs.values()]  # d83 absent: no false match
    assert match_cross_source([page], other) == []


# ---------------------------------------------------------------- versions and re-ingest

@pytest.mark.slow  # five corpus volumes
def test_ingesting_the_same_documents_twice_is_a_no_op(docs, seed_and_d83):
    seed, d83 = seed_and_d83
    inputs = [dedupe_input(d) for k, d in docs.items() if k.startswith(("frus1864p3/", "frus1872p2v2/"))]
    inputs += [dedupe_input(seed), dedupe_input(d83)]
    first = find_duplicates(inputs)
    assert len(clusters(first)) >= 10  # the 1872 volume reprints 1864 letters
    assert find_duplicates(inputs + inputs) == first
    newer = [replace(d, rank=1) for d in inputs]  # a second run: newer versions of every key
    assert clusters(find_duplicates(inputs + newer)) == clusters(first)


def test_preferred_version_wins_and_canonical_preference():
    old = DedupeDoc("v/d1", "tei", False, "old text", rank=1)
    new = DedupeDoc("v/d1", "tei", False, "new text", rank=2)
    assert preferred_versions([new, old]) == [new]
    assert preferred_versions([old, new]) == [new]
    # a page text of the same key, newer: the TEI version stays the head
    page_version = DedupeDoc("v/d1", "hsg-text", False, "page text", rank=3)
    assert preferred_versions([new, page_version]) == [new] == preferred_versions([page_version, new])
    text = " ".join(f"word{i}" for i in range(80))
    page = DedupeDoc("hsg-text/x", "hsg-text", False, text, rank=9)
    unreviewed = DedupeDoc("a/d1", "tei", False, text, rank=5)
    reviewed = DedupeDoc("z/d1", "tei", True, text, rank=0)
    rows = find_duplicates([page, unreviewed, reviewed])
    assert {r.canonical_key for r in rows} == {"z/d1"}
    rows = find_duplicates([page, unreviewed, replace(unreviewed, doc_key="b/d1", rank=6)])
    assert {r.canonical_key for r in rows} == {"b/d1"}  # newest among equals
    assert len({r.cluster_id for r in rows}) == 1


@pytest.mark.slow  # five corpus volumes
def test_signature_is_a_datasketch_minhash(docs):
    d = docs["frus1897/d444"]
    sh = shingle_hashes(canonical_words(d.text))
    ref = MinHash(num_perm=128, seed=1, hashfunc=int)
    ref.update_batch(((sh >> np.uint64(32)) ^ sh).astype(np.uint32))
    sig = minhash_signature(d.text)
    assert sig.dtype == np.uint32 and np.array_equal(sig, ref.hashvalues)
    assert np.array_equal(minhash(sh).hashvalues, sig)
    rebuilt = MinHash(num_perm=128, seed=1, hashvalues=sig, scheme="affine32")
    assert rebuilt.jaccard(ref) == 1.0


def test_a_volumes_keys_at_once_are_each_documents_keys(docs, monkeypatch):
    """dedupe_keys_of (a volume's documents together, in chunks) stores what the per-document
    composition gives: sha256 of the canonical text, band keys of the full MinHash."""
    import hashlib

    from tasks.dedupe import band_keys, dedupe_keys_of
    from tasks.dedupe import signatures

    monkeypatch.setattr(signatures, "CHUNK_CHARS", 40_000)  # chunks of a few documents
    texts = [d.text for d in docs.values()] + ["", "too short to band"]
    got = dedupe_keys_of(texts)
    assert len(got) == len(texts) and sum(bool(k) for _, k in got) > len(texts) // 2
    for text, (digest, keys) in zip(texts, got):
        words = canonical_words(text)
        assert digest == hashlib.sha256(" ".join(words).encode()).hexdigest()
        assert keys == (band_keys(minhash(shingle_hashes(words)).hashvalues) if len(words) >= 50 else [])


def test_keys_at_once_shingle_each_short_text_by_its_own_length():
    """Below the shingle's 5 words a text is one shingle of its length; a longer text beside it
    in the same chunk keeps 5 (min_words under 5 lets such texts have bands)."""
    import hashlib

    from tasks.dedupe import band_keys, dedupe_keys_of

    texts = ["", "a b", "one", "the quick brown fox jumps over the lazy dog"]
    for least in (0, 1, 2, 3):
        got = dedupe_keys_of(texts, min_words=least)
        for text, (digest, keys) in zip(texts, got):
            words = canonical_words(text)
            assert digest == hashlib.sha256(" ".join(words).encode()).hexdigest()
            assert keys == (band_keys(minhash(shingle_hashes(words)).hashvalues) if len(words) >= least else [])


HOSTILE_TEXTS = [
    "", "\x00", "_", "Straße STRASSE ﬁnance ﬀ ½ ™ ²³", "e\u0301te\u0301 café",  # casefold, NFKC
    "snake_case __init__ a_b", "x\x00y\ty\u200bz\u00a0w", "İstanbul ΣΑΣ ς", "𝔘𝔫𝔦𝔠𝔬𝔡𝔢 😀 👍🏽 ab",
    "Ǆ ǅ ǆ ⅷ 〇 ٣٤ ߀", "\ud7ff\ue000\U0010ffff", "lone \ud800 surrogate\udfff", "’s “quoted” — dash…end", " lead", "trail ",
]


def test_encoded_words_are_the_canonical_words(docs):
    """encoded_words (numpy, Arrow) splits and folds as canonical_words (the regex) on real
    volumes' texts in several languages and on hostile Unicode: ligatures, ß, combining
    accents, astral letters, underscores, NULs, zero-width spaces."""
    from tasks.dedupe.words import encoded_words

    texts = [d.text for d in docs.values()] + HOSTILE_TEXTS
    assert not all(t.isascii() for t in texts)
    for chunk in (texts, HOSTILE_TEXTS, HOSTILE_TEXTS[3:4], ["plain ascii, only."]):
        got = encoded_words(chunk)
        words = got.dictionary.to_pylist()
        for i, (text, joined) in enumerate(zip(chunk, got.canonical_texts())):
            mine = [words[j] for j in got.indices[got.firsts[i]:got.firsts[i] + got.counts[i]]]
            assert mine == canonical_words(text), text[:60]
            assert bytes(joined).decode() == " ".join(canonical_words(text))
    assert canonical_words("Straße ﬁnance ½") == ["strasse", "finance", "1", "2"]


def test_words_and_shingles_are_each_texts(docs, monkeypatch):
    """What the dedupe verifies candidates on, many texts at once (in chunks of a few
    documents here): each text's canonical words and shingle hashes, as one text alone gives."""
    from tasks.dedupe import signatures, words_and_shingles

    monkeypatch.setattr(signatures, "CHUNK_CHARS", 40_000)
    texts = [d.text for d in docs.values()][:600] + HOSTILE_TEXTS
    got = words_and_shingles(texts, 5)
    assert len(got) == len(texts)
    for text, (words, shingles) in zip(texts, got):
        assert words == canonical_words(text)
        assert np.array_equal(shingles, shingle_hashes(canonical_words(text), 5))


def test_ocr_recheck_aligns_as_the_standard_difflib(docs):
    """The OCR re-check aligns with cydifflib's SequenceMatcher: on real documents and their
    OCR-noised copies it gives difflib's own opcodes and ratios, so repaired similarities (and
    the clusters) are those the standard library gives."""
    import difflib

    from tasks.dedupe import verify

    pairs = 0
    for doc in list(docs.values())[::40]:
        a = canonical_words(doc.text)
        b = canonical_words(ocr_noise(doc.text, 0.03, seed=len(a)))
        if not a or not b:
            continue
        want = difflib.SequenceMatcher(None, a, b, autojunk=False).get_opcodes()
        assert [tuple(o) for o in verify.SequenceMatcher(None, a, b, autojunk=False).get_opcodes()] == want
        for x, y in zip(a[:50], b[:50]):
            assert verify._near_word(x, y) == (
                (not (x.isdigit() and y.isdigit()))
                and difflib.SequenceMatcher(None, x, y, autojunk=False).ratio() >= 0.6)
        pairs += 1
    assert pairs > 20
