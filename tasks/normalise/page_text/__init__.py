"""The page-text normaliser: a history.state.gov document page, as copied text → a Document.

Modules: :mod:`.read` (the file and its ``.url`` sidecar), :mod:`.parse` (the page),
:mod:`.blocks` (its lines as blocks), :mod:`.markers` (footnote markers), :mod:`.title`
(URL, source notes, title), :mod:`.dates` and :mod:`.frus_page` ("is this a FRUS page").
"""
from tasks.normalise.common import document_text
from tasks.normalise.page_text.markers import find_markers
from tasks.normalise.page_text.parse import FORMAT, parse_page_text
from tasks.normalise.page_text.read import MAX_PAGE_BYTES, MAX_SIDECAR_BYTES, parse_page_file
from tasks.normalise.page_text.title import parse_title, parse_url

__all__ = ["FORMAT", "MAX_PAGE_BYTES", "MAX_SIDECAR_BYTES", "document_text", "find_markers",
           "parse_page_file", "parse_page_text", "parse_title", "parse_url"]
