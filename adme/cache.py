"""Content-addressed cache of raw SPL XML: `ROOT/ab/abcdef....xml`, keyed by sha256.

Files are written to a temporary name and moved into place with `os.replace`, so a kill never
leaves half a file under a real name. Names are built only from validated hex digests and
validated keys, so nothing is ever written outside the cache root.

Besides the content files, `ROOT/keys/<key>` holds the sha256 of what a DailyMed key (such as
`<setid>_v<version>`) resolved to, so a re-run finds the label without downloading it.
"""

from __future__ import annotations

import hashlib
import os
import re
import tempfile
from pathlib import Path

from adme.errors import AdmeError

_SHA256 = re.compile(r"^[0-9a-f]{64}$")
_KEY = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,199}$")


def sha256_of(data: bytes) -> str:
    """Content address of raw XML bytes (the `documents.sha256` column)."""
    return hashlib.sha256(data).hexdigest()


def path_for(root: Path, sha256: str) -> Path:
    """Where the XML with this sha256 lives in the cache."""
    if not _SHA256.match(sha256):
        raise AdmeError(f"not a sha256 digest: {sha256!r}")
    return Path(root) / sha256[:2] / f"{sha256}.xml"


def _atomic_write(target: Path, data: bytes) -> None:
    """Write `data` to a temporary file beside `target`, then move it into place."""
    try:
        fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".tmp-", suffix=".part")
    except FileNotFoundError:  # first file of its folder: create the folder once, not per write
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".tmp-", suffix=".part")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def check_root(root: Path) -> None:
    """Raise a one-line AdmeError when `root` cannot be the cache folder (e.g. it is a file).

    Called before any work starts, so `--cache some-file` fails at once, not at the first
    label worth keeping.
    """
    root = Path(root)
    for folder in (root, *root.parents):
        if folder.exists():
            if not folder.is_dir():
                raise AdmeError(f"--cache {root}: cannot be the cache folder: {folder} is a file")
            return


def put(root: Path, data: bytes, sha256: str | None = None) -> str:
    """Store raw XML under its sha256 (once) and return the digest.

    A file already there is kept only when its size is right: one cut short on disk (a crash
    before the data reached it, a full disk) is written again, or `get` would refuse it forever.
    """
    digest = sha256 or sha256_of(data)
    target = path_for(root, digest)
    try:
        present = target.stat().st_size == len(data)
    except FileNotFoundError:
        present = False
    except OSError as exc:  # e.g. a file where the cache folder should be
        raise AdmeError(f"{root}: cannot use as cache: {exc.strerror or exc}") from exc
    if not present:
        try:
            _atomic_write(target, data)
        except OSError as exc:
            raise AdmeError(f"{root}: cannot write to cache: {exc.strerror or exc}") from exc
    return digest


def get(root: Path, sha256: str) -> bytes | None:
    """Raw XML stored under this sha256, or None when the cache does not hold it."""
    target = path_for(root, sha256)
    try:
        data = target.read_bytes()
    except (FileNotFoundError, NotADirectoryError):
        return None
    # A file damaged on disk must not pass for the label it claims to be.
    return data if sha256_of(data) == sha256 else None


def _key_path(root: Path, key: str) -> Path:
    """Where a key file lives; a key that could leave `ROOT/keys/` is an AdmeError."""
    if not _KEY.match(key):
        raise AdmeError(f"not a valid cache key: {key!r}")
    return Path(root) / "keys" / key


def remember(root: Path, key: str, sha256: str) -> None:
    """Record that `key` (e.g. `<setid>_v<version>`) resolved to the XML with this sha256."""
    path_for(root, sha256)  # validates the digest
    try:
        _atomic_write(_key_path(root, key), sha256.encode())
    except OSError as exc:
        raise AdmeError(f"{root}: cannot write to cache: {exc.strerror or exc}") from exc


def recall(root: Path, key: str) -> bytes | None:
    """The cached XML `key` resolved to before, or None when it was never fetched."""
    try:
        digest = _key_path(root, key).read_text().strip()
    except (FileNotFoundError, NotADirectoryError):
        return None
    if not _SHA256.match(digest):
        return None
    return get(root, digest)
