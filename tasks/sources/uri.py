"""One source identity: parse, normalise and display every source URI.

The CLI, the flow and deployments all pass a source through :func:`parse`, and the lake
records :attr:`SourceURI.identity`: one source, one string, however it was spelled. A
scheme is read case-insensitively (``HTTPS://``, ``Git+File://``) and recorded lower-cased.

- A local folder or file (a path, relative or absolute, or ``file://``): its absolute path
  with symlinks resolved (a folder reached through a symlink is the folder itself; a single
  file keeps its own name, in its resolved folder).
- ``git`` and the upstream's URL however it is written (``git+https://`` or plain
  ``https://github.com/HistoryAtState/frus``, with or without ``.git`` or a final ``/``, any
  case): ``git``.
- A local repository, ``git+PATH`` (relative or absolute) or ``git+file://…``:
  ``git+file:///abs/path``, symlinks resolved as for a folder.
- Any other ``git+URL``: the URL with its scheme and host lower-cased and its path
  percent-encoded once (``%20`` and a space are one character); an scp-like
  ``git+user@host:repo.git`` as given.
- ``http(s)://…``: scheme and host lower-cased, path percent-encoded once.
- ``urls:FILE``: ``urls:`` and the file's resolved path.
- ``replay``: the landing zone (``frus ingest --replay``).

A URL holding a password (``user:password@``) is refused (:class:`SourceError`): the
identity is stored in the lake and shown, and a password must be neither.
"""
from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote, unquote, urlsplit, urlunsplit

UPSTREAM = "git"
UPSTREAM_URL = "https://github.com/HistoryAtState/frus.git"
REPLAY = "replay"
KINDS = ("local", "git", "http", "urls", "replay")
_UPSTREAM_SPELLINGS = re.compile(r"(?i)^(git\+)?https://github\.com/HistoryAtState/frus(\.git)?/?$")
_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*)(?=://)")
_SAFE = "/:@!$&'()*+,;=~-._"  # kept as they are in a path; everything else is %-encoded


class SourceError(ValueError):
    """A source string that names no source we can read; the message says why."""


@dataclass(slots=True, frozen=True)
class SourceURI:
    """A parsed source: its kind and its one identity."""

    kind: str  # local | git | http | urls | replay
    identity: str  # what the lake records as the source; the same for every spelling

    @property
    def path(self) -> Path | None:
        """The local file or folder (``local``, ``urls``'s list, ``git+file``'s repository)."""
        if self.kind == "local":
            return Path(self.identity)
        if self.kind == "urls":
            return Path(self.identity.removeprefix("urls:"))
        if self.identity.startswith("git+file://"):
            return Path(unquote(urlsplit(self.identity.removeprefix("git+")).path))
        return None

    def display(self) -> str:
        """For people: the identity on one line, a password in a URL hidden."""
        from tasks.sources import printable

        text = f"git ({UPSTREAM_URL})" if self.identity == UPSTREAM else self.identity
        return printable(hide_password(text))


def parse(source: str, *, must_exist: bool = False) -> SourceURI:
    """Parse and normalise a source string.

    Args:
        source: as a user, a deployment parameter or the lake spelled it.
        must_exist: a local folder, a ``urls:`` list and a ``git+file`` repository must
            exist now (the CLI's check, before any server starts).

    Raises:
        SourceError: an empty string, an unsupported scheme, or (``must_exist``) a missing path.
    """
    if not isinstance(source, str) or not source.strip():
        raise SourceError(f"no source given: {source!r}")
    if source == REPLAY:
        return SourceURI("replay", REPLAY)
    source = _SCHEME.sub(lambda m: m.group(1).lower(), source, count=1)
    if source in (UPSTREAM, "git+") or _UPSTREAM_SPELLINGS.match(source):
        return SourceURI("git", UPSTREAM)
    if source.startswith("git+"):
        uri = SourceURI("git", "git+" + _url(source.removeprefix("git+"), source))
    elif source.startswith(("http://", "https://")):
        uri = SourceURI("http", _url(source, source))
    elif source.startswith("urls:"):
        uri = SourceURI("urls", "urls:" + str(_local_path(source.removeprefix("urls:"))))
    elif source.startswith("file://"):
        uri = SourceURI("local", str(_local_path(_file_path(source, source))))
    elif re.match(r"^[A-Za-z][A-Za-z0-9+.-]*://", source):
        raise SourceError(f"unsupported source {source!r}: use a path, file://, http(s)://, git, git+…, urls:FILE")
    else:
        uri = SourceURI("local", str(_local_path(source)))
    if must_exist and uri.path is not None and not os.path.lexists(uri.path):
        raise SourceError(f"source not found: {source}")
    return uri


def identity(source: str) -> str:
    """The one string the lake records for ``source`` (see :func:`parse`)."""
    return parse(source).identity


def same_source(a: str | None, b: str | None) -> bool:
    """Whether two recorded or given spellings name one source (None names none)."""
    if a is None or b is None:
        return a is b
    try:
        return a == b or identity(a) == identity(b)
    except SourceError:
        return False


def display(source: str) -> str:
    """``source`` for a log line or a status table (an unparsable one printed as it is)."""
    try:
        return parse(source).display()
    except SourceError:
        from tasks.sources import printable

        return printable(hide_password(source))


def hide_password(text: str) -> str:
    """``text`` with the password of every URL in it as ``***`` (a source, a catalog URL, a
    message quoting one): the one rule for logs, status, the lake and the warehouse."""
    text = _URL_IN_TEXT.sub(lambda m: _without_password(m.group()), text)
    return _CONNINFO_PASSWORD.sub(r"\1***", text)


_URL_IN_TEXT = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://\S+")
# A libpq key=value string quoted in an error (DuckDB's postgres extension prints its own).
_CONNINFO_PASSWORD = re.compile(r"(\bpassword\s*=\s*)('(?:[^'\\]|\\.)*'|\S+)")


def _without_password(url: str) -> str:
    try:
        password = urlsplit(url).password
    except ValueError:  # (a malformed netloc: nothing to read a password from)
        return url
    return url if password is None else url.replace(f":{password}@", ":***@", 1)  # ("u:@": hidden too)


def _local_path(path: str) -> Path:
    """Absolute, normalised, symlinks resolved; a symlinked file keeps its name."""
    absolute = Path(os.path.normpath(Path(path).expanduser().absolute()))
    if absolute.is_symlink() and not absolute.is_dir():
        return Path(os.path.realpath(absolute.parent)) / absolute.name
    return Path(os.path.realpath(absolute))


def _file_path(url: str, given: str) -> str:
    parts = urlsplit(url)
    if parts.netloc not in ("", "localhost"):
        raise SourceError(f"not a local file URI: {given}")
    return unquote(parts.path, errors="surrogateescape")


def _url(url: str, given: str) -> str:
    """One spelling of a URL: scheme and host lower-cased, the path encoded once."""
    if url.startswith("file://"):
        return Path(_local_path(_file_path(url, given))).as_uri()
    if "://" not in url:
        if not url or url.startswith("-"):
            raise SourceError(f"bad source URL {given!r}")
        colon, slash = url.find(":"), url.find("/")
        if colon > 0 and (slash < 0 or colon < slash):  # scp-like (git@host:repo.git), as git reads it
            return url
        return _local_path(url).as_uri()  # a local repository: one identity with git+file://
    parts = urlsplit(url)
    if not parts.netloc:
        raise SourceError(f"bad source URL {given!r}: no host")
    if parts.password is not None:
        raise SourceError(f"a source URL must not hold a password (it would be stored in the lake "
                          f"and shown): give {hide_password(given)} with the user only, and let git's "
                          "credential helper supply the password")
    host = parts.netloc.rpartition("@")
    netloc = host[0] + host[1] + host[2].lower()
    return urlunsplit((parts.scheme.lower(), netloc, quote(unquote(parts.path), safe=_SAFE),
                       parts.query, parts.fragment))
