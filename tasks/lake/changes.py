"""What a run changes in the lake: one rule for unchanged, changed, new, withdrawn and failed
items, and the run's status.

The flow asks a :class:`Changes` at each step and does what it says: which items to read
(:meth:`Changes.to_read`: unchanged ones, by version token, are not even fetched), whether a
fetched item's bytes are the stored ones (:meth:`Changes.same_bytes`), whether a staged item
may take its volume id (:meth:`Changes.conflict`), then records what became of each item
(:meth:`Changes.stored`, :meth:`Changes.failed`), the items its source no longer offers
(:meth:`Changes.withdraw_missing`) and the run's status (:meth:`Changes.finish`). It counts
into the run's :class:`~tasks.records.RunReport` and gathers what the commit takes. Plain
Python: no Prefect, no I/O.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from tasks.lake.catalog import LakeState, Staged
from tasks.lake.provenance import claim_conflict, volume_holders
from tasks.records import PARSER_VERSION, Failure, ItemEntry, RunReport, VolumeRow
from tasks.sources import SourceItem, printable, selected
from tasks.sources.uri import same_source


@dataclass
class Changes:
    """A run's changes against the lake's state ``base``, counted into ``report``."""

    base: LakeState
    report: RunReport
    volumes: Sequence[str] | None = None  # the run's selection (None: all)
    staged: list[Staged] = field(default_factory=list)  # new and changed items' rows
    updated: list[ItemEntry] = field(default_factory=list)  # items whose row alone changes
    withdrawn: list[ItemEntry] = field(default_factory=list)  # items gone from their source
    failures: dict[str, Failure] = field(default_factory=dict)  # the lake's failures after the run
    rows: list[VolumeRow] = field(default_factory=list)  # the artifact's table: an item read a row
    holders: dict[str, list[ItemEntry]] = field(default_factory=dict)  # current TEI items by volume id

    def __post_init__(self) -> None:
        # Items that could not be read stay failed until they are read or leave their source.
        self.failures = dict(self.base.failures)
        self.holders = volume_holders(self.base.items)

    def previous(self, item: SourceItem) -> ItemEntry | None:
        """The lake's entry of ``item`` (None: new, or back after a withdrawal: read as new)."""
        old = self.base.items.get(item.uri)
        return None if old is None or old.withdrawn_run else old

    def unchanged(self, item: SourceItem) -> bool:
        """Known to the lake with the same version token and parser: not read again."""
        old = self.previous(item)
        return bool(old and old.version == item.version and old.parser_version == PARSER_VERSION)

    def to_read(self, items: Sequence[SourceItem]) -> list[SourceItem]:
        """The items to fetch, in order; the unchanged ones are counted (no read, no parse)."""
        todo = []
        for item in items:
            if self.unchanged(item):
                self.report.items_unchanged += 1
                self.failures.pop(item.uri, None)
            else:
                todo.append(item)
        return todo

    def same_bytes(self, item: SourceItem, sha256: str) -> bool:
        """Whether a fetched item holds the bytes the lake has, parsed by this parser: then it
        is unchanged, and only its row takes the new version token."""
        old = self.previous(item)
        if not (old and old.sha256 == sha256 and old.parser_version == PARSER_VERSION):
            return False
        self.report.items_unchanged += 1
        self.updated.append(ItemEntry(**{**old.__dict__, "version": item.version}))
        self.failures.pop(item.uri, None)
        return True

    def conflict(self, entry: ItemEntry, peers: set[str | None]) -> str | None:
        """Why a staged item may not take its volume id (``tasks.lake.provenance``), or None;
        ``peers``: the run's source and its mirror, whose items are versions of one another."""
        return claim_conflict(entry, self.holders.get(entry.volume_id, ()), peers)

    def stored(self, item: SourceItem, done: Staged, seconds: float | None,
               reasons: dict[str, int]) -> str:
        """Record a staged item; returns its outcome, ``new`` or ``changed``.

        Its ``ingested_at`` becomes the run's start: versions of one document rank by it, so
        it must not depend on which worker finished first."""
        done.entry.ingested_at = self.report.started_at.isoformat()
        entry, old = done.entry, self.previous(item)
        self.holders.setdefault(entry.volume_id, []).append(entry)
        self.staged.append(done)
        self.failures.pop(item.uri, None)
        self.report.rejects += entry.rejects
        if old:
            self.report.items_changed += 1
            self.report.documents_updated += entry.documents
        else:
            self.report.items_new += 1
            self.report.documents_added += entry.documents
        outcome = "changed" if old else "new"
        self.rows.append(VolumeRow(printable(item.name), outcome, entry.documents, entry.rejects,
                                   seconds, reasons))
        return outcome

    def failed(self, item: SourceItem, source: str | None, reason: str) -> None:
        """Record an item that could not be fetched, normalised or stored (``reason``: one line)."""
        self.report.items_failed += 1
        self.report.failures.append(f"{printable(item.name)}: {reason}")
        self.rows.append(VolumeRow(printable(item.name), "failed", 0, 1, None, {reason: 1}))
        failure = Failure(item.uri, item.name, source, item.version, reason, self.report.run_id)
        if not failure.same(self.failures.get(item.uri)):  # the same failure keeps its first run
            self.failures[item.uri] = failure

    def withdraw_missing(self, items: Sequence[SourceItem], source: str) -> list[ItemEntry]:
        """The items ``source`` offered before (in the selection) and no longer does: withdrawn,
        not deleted (their rows stay, flagged with this run); a failed item gone from its source
        is no longer failing. Returns the withdrawn entries."""
        seen = {i.uri for i in items}
        gone = [old for uri, old in self.base.items.items()
                if same_source(old.source, source) and not old.withdrawn_run and uri not in seen
                and old.name and selected(old.name, self.volumes)]
        for old in gone:
            self.withdrawn.append(ItemEntry(**{**old.__dict__, "withdrawn_run": self.report.run_id}))
            self.report.items_removed += 1
            self.report.documents_withdrawn += old.documents
        for uri, failure in self.base.failures.items():
            if same_source(failure.source, source) and uri not in seen and selected(failure.name, self.volumes):
                self.failures.pop(uri, None)
        return self.withdrawn[-len(gone):] if gone else []

    def finish(self) -> str:
        """The run's status, set on the report: empty (nothing offered), completed, partial
        (some items failed), failed (none could be read). A failed item counts as a reject."""
        r = self.report
        r.rejects += r.items_failed
        readable = r.items_new + r.items_changed + r.items_unchanged
        r.status = ("empty" if not r.items_seen else "completed" if not r.items_failed
                    else "partial" if readable else "failed")
        return r.status

    @property
    def committed(self) -> bool:
        """Whether the run has anything to commit (the same failure again is nothing)."""
        return bool(self.staged or self.updated or self.withdrawn or self.failures != self.base.failures)

    @property
    def changed_uris(self) -> set[str]:
        """Items whose documents change: only they need new duplicate links (a version-only
        update or a failed item keeps the old ones). Empty: deduplication is skipped."""
        return {s.entry.uri for s in self.staged} | {e.uri for e in self.withdrawn}

    @property
    def entries(self) -> list[ItemEntry]:
        """Item rows that change without new rows of their own: new version tokens, withdrawals."""
        return self.updated + self.withdrawn
