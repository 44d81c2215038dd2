"""The landing zone as a source: re-normalise what the lake holds without fetching.

``frus ingest --replay`` reads each current (not withdrawn) item of the lake from
``DATA/raw`` by its sha256. After a parser upgrade (a new ``PARSER_VERSION``) every item is
parsed again; items already at the current parser version are unchanged and skipped.
"""
from __future__ import annotations

from pathlib import Path

from tasks.landing import raw_path
from tasks.sources import FetchedItem, FetchError, Source, SourceItem, kind_of, selected
from tasks.sources.uri import REPLAY  # noqa: F401 (named here too: the flow's and CLI's import)


class ReplaySource(Source):
    """The items of the lake, fetched from the landing zone.

    Its items keep what they had: the source they were first read from (:meth:`source_of`)
    and their volume ids (they claim none anew: ``claims_volumes``). No recorded source is
    ``replay``, so a replay withdraws nothing."""

    claims_volumes = False

    def __init__(self, data_root: Path, volumes: list[str] | None = None):
        from tasks.lake.catalog import Lake  # the lake depends on sources' helpers, not back

        self.uri = REPLAY
        self.data_root = Path(data_root)
        self.volumes = volumes
        self._entries = {uri: e for uri, e in Lake(self.data_root).state().items.items()
                         if not e.withdrawn_run}

    def scan(self) -> list[SourceItem]:
        return [SourceItem(e.name or e.uri, uri, e.version, kind_of(e.name or e.uri) or "tei")
                for uri, e in sorted(self._entries.items())
                if e.name is None or selected(e.name, self.volumes)]

    def fetch(self, item: SourceItem) -> FetchedItem:
        entry = self._entries[item.uri]
        path = raw_path(self.data_root, entry.sha256)
        if not path.is_file():
            raise FetchError(item.uri, f"not in the landing zone ({path}): ingest it from its source")
        return FetchedItem(item, path, entry.sha256, path.stat().st_size)

    def source_of(self, item: SourceItem) -> str | None:
        """The source the item was first read from (kept on the re-normalised entry)."""
        return self._entries[item.uri].source
