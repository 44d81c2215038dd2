"""Deduplication: content hashes, versions, cross-source matches and near-duplicate clusters.

Pure functions over :class:`DedupeDoc` (built from a :class:`~tasks.records.Document` by
:func:`dedupe_input`); no I/O, no Prefect. Four relations, strongest first:

* **Versions** -- records with the same ``doc_key`` are versions of one document; the one from
  the preferred source (:mod:`tasks.canonical`: reviewed TEI, TEI, page text), then with the
  highest ``rank`` (run time), wins (:func:`preferred_versions`). The others stay in the lake;
  :func:`find_duplicates` only ever sees the preferred one per key, so feeding it the same
  documents twice changes nothing.
* **Exact** -- same :func:`content_hash`: sha256 of the canonical text (NFKC, case-folded, the
  words -- runs of letters and digits -- joined by single spaces, so punctuation, quotes,
  symbols and line breaks only separate words). Digits
  are kept as they are: footnote markers glued to words ("Fo7") are removed by the normalisers,
  not here, because stripping digits would merge documents that differ only in a number.
* **Cross-source** -- a page-text document without a URL (``hsg-text/…``) is matched to its TEI
  document by :func:`match_cross_source`: blocking on the file number, else same day or same
  sender, then verified by word-shingle Jaccard or containment.
* **Near** -- MinHash LSH (datasketch) over word k-shingles of the canonical text finds
  candidates; each is verified by the exact Jaccard of the two shingle sets. A candidate pair
  that misses the threshold but shares at least ``ocr_floor`` of its shingles gets a second,
  OCR-tolerant verification (:func:`repaired_jaccard`): the two word sequences are aligned and
  words that differ only by a few characters ("Sevoard"/"Seward", "1etter"/"letter") are
  counted as equal before the Jaccard is taken again. Scattered character noise damages one
  word in seven at 3 % noise, which kills half the 5-shingles; look-alike documents differ by
  whole words and clauses, which the repair does not touch.

Guards against accidental merges (each one seen in the corpus):

* Documents shorter than ``min_words`` words merge only on an exact hash (short telegrams and
  acknowledgements share most of their shingles with one another).
* Metadata conflicts veto every merge, exact included, because ``Document.text`` leaves out
  the heading: circular instructions sent the same day to different envoys (frus1897 d444 to
  Uhl and d449 to Bayard, Jaccard 0.81) differ only there. A conflict is: both dates known and
  more than one day apart, both file numbers known and different, or both senders / both
  recipients known and different names (compared loosely so that OCR variants such as
  "Seivard"/"Seward" or "Duke de Louié"/"Duke de Soulé" still agree).

Canonical member of a cluster, in order of preference: reviewed TEI, unreviewed TEI, page text;
then the highest ``rank`` (newest); then the smallest ``doc_key``.

Modules: ``model`` (settings, :class:`DedupeDoc`, versions), ``signatures`` (canonical text,
hashes, shingles, MinHash, LSH band keys), ``verify`` (Jaccard, the OCR-tolerant re-check, the
metadata guards), ``cross_source``, ``clusters`` (links, the canonical member, the whole run).

Scale: :func:`find_duplicates` holds every document (the evaluation's whole-corpus run). The
pipeline stores :func:`dedupe_keys` (content hash and LSH band keys) with each document
version, and ``tasks/lake/dedupe.py`` matches only a run's changed documents against them,
with the verification, vetoes and clustering defined here.
"""
from tasks.dedupe.model import (  # noqa: F401  (the package's names, as one module had them)
    _STRENGTH, DEFAULT_CANDIDATE_THRESHOLD, DEFAULT_CONTAINMENT, DEFAULT_MIN_WORDS, DEFAULT_NUM_PERM,
    DEFAULT_OCR_FLOOR, DEFAULT_SHINGLE, DEFAULT_THRESHOLD, METHODS, MIN_AGREEMENT, MINHASH_SEED,
    REPAIR_VOCABULARY, DedupeDoc, Match, dedupe_input, preferred_versions)
from tasks.dedupe.signatures import (  # noqa: F401
    band_keys, banded_agreement, canonical_text, canonical_words, containment, content_hash, dedupe_keys, dedupe_keys_of,
    jaccard, lsh_shape, minhash, minhash_signature, shingle_hashes, words_and_shingles)
from tasks.dedupe.verify import (  # noqa: F401
    _file_key, _name, conflict, near_similarity, repair, repaired_jaccard, same_name, verified_pairs)
from tasks.dedupe.cross_source import match_cross_source  # noqa: F401
from tasks.dedupe.clusters import Links, add_link, cluster, find_duplicates, preference  # noqa: F401
from tasks.records import DuplicateRow  # noqa: F401
