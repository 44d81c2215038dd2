"""The state of one document's walk: the parts and footnotes emitted so far, the page in
force, the open attachment and the list item waiting for its label."""
from __future__ import annotations

from dataclasses import dataclass, field

from lxml import etree

from tasks.normalise.common import XML_ID, squash
from tasks.normalise.tei.lists import PendingItem
from tasks.records import Footnote, Part


@dataclass(slots=True)
class DocumentWalk:
    """Parts, footnotes and source notes of one document, in reading order."""

    doc_key: str
    doc_id: str
    page: str | None  # the page in force
    first_page: str | None = None  # the first page break's
    parts: list[Part] = field(default_factory=list)
    footnotes: list[Footnote] = field(default_factory=list)
    source_notes: list[str] = field(default_factory=list)
    attachment: int | None = None  # the open attachment's number
    attachments: int = 0
    pending: list[Footnote] = field(default_factory=list)  # notes met, not yet anchored to a part
    att_part: Part | None = None  # the open attachment's part (its label collects source notes)
    att_label: etree._Element | None = None  # the source note already used as that label
    item: PendingItem | None = None  # a list item waiting for its first part

    def emit(self, kind: str, pieces: list[str], page: str | None = None) -> None:
        """Add a part of ``kind`` from text ``pieces``; pending notes anchor to it."""
        text = squash("".join(pieces))
        if not text:
            return  # its notes stay pending and anchor to the next part
        label = path = None
        if self.item is not None:
            # The first part of a list item (its text, or its first <p>) carries the label.
            label, path = self.item.resolve(text)
            self.item = None
            kind = "item" if kind == "paragraph" else kind
        seq = len(self.parts)
        self.parts.append(Part(self.doc_key, seq, kind, text, label, path, page or self.page, self.attachment))
        for fn in self.pending:
            fn.part_seq = seq
        self.pending = []

    def finish(self) -> None:
        """Notes after the last part anchor to it."""
        last = len(self.parts) - 1 if self.parts else None
        for fn in self.pending:
            fn.part_seq = last
        self.pending = []

    def set_page(self, pb: etree._Element) -> None:
        """A page break: its number is in force from here."""
        if pb.get("n"):
            self.page = pb.get("n")
            self.first_page = self.first_page or self.page

    def footnote(self, el: etree._Element, text: str) -> None:
        """A footnote, keyed by its ``xml:id`` (``@n`` repeats within a volume)."""
        fn = Footnote(self.doc_key, el.get(XML_ID) or f"{self.doc_id}fn-{len(self.footnotes) + 1}", el.get("n"),
                      text, None, self.page)
        self.footnotes.append(fn)
        self.pending.append(fn)
