"""The TEI normaliser: a FRUS TEI volume → Volume, Document and Reject records.

Modules: :mod:`.volume` (the file, the volume and where its documents stand),
:mod:`.document` (one document), :mod:`.blocks` (blocks in reading order), :mod:`.lists`
(item labels and paths), :mod:`.notes`, :mod:`.dates`, :mod:`.text` (the inline-text walk)
and :mod:`.walk` (one document's walk state).
"""
from tasks.errors import VolumeError
from tasks.normalise.common import ParsedVolume
from tasks.normalise.tei.volume import DIV, MAX_BYTES, parse_volume, secure_parser

__all__ = ["DIV", "MAX_BYTES", "ParsedVolume", "VolumeError", "parse_volume", "secure_parser"]
