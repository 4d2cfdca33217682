"""Where SPL bytes come from on disk: one XML file, a folder, a DailyMed release ZIP.

A DailyMed bulk release is a ZIP of inner ZIPs named `YYYYMMDD_<setid>.zip`, each holding one
SPL XML plus images. Everything is streamed member by member with `zipfile`; nothing is ever
unpacked to disk, so a hostile member name cannot write anywhere. Unsafe names and ZIP bombs
are still rejected, one line each, so the user learns the archive is suspicious.
"""

from __future__ import annotations

import io
import lzma
import os
import re
import stat
import struct
import zipfile
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import BinaryIO

from adme.errors import AdmeError

# An SPL label is a few MB at most (the largest real ones are under 10 MB); anything far beyond
# is a bomb, not a label. Also the cap on a plain file read whole (`--from /dev/zero`), and
# what bounds the memory one label can take while it is parsed.
MAX_MEMBER_BYTES = 64 * 1024 * 1024
# Deflated XML rarely compresses beyond ~30x; 200x only happens on crafted input.
MAX_RATIO = 200
# Tiny members can show silly ratios (a 1 kB run of spaces) without being dangerous.
RATIO_FLOOR_BYTES = 1024 * 1024
# Inner ZIPs nest one level in a release; deeper nesting is not a DailyMed shape.
MAX_ZIP_DEPTH = 2
_READ_CHUNK = 1024 * 1024
_ZIP_MAGIC = b"PK\x03\x04"
_EOCD = struct.Struct("<4sHHHHIIH")  # end of central directory record
_EOCD_SIG = b"PK\x05\x06"
_ZIP64_LOCATOR = struct.Struct("<4sIQI")
_ZIP64_LOCATOR_SIG = b"PK\x06\x07"
_ZIP64_EOCD = struct.Struct("<4sQHHIIQQQQ")
_ZIP64_EOCD_SIG = b"PK\x06\x06"
_CENTRAL_SIG = b"PK\x01\x02"
_MAX_COMMENT = 0xFFFF
# What zipfile raises on a damaged or odd archive, besides BadZipFile: truncated reads,
# encrypted or unsupported members (RuntimeError, NotImplementedError), corrupt deflate, bzip2
# or LZMA streams, garbled header fields. One bad archive or member must never stop the others.
_ZIP_FAULTS = (
    zipfile.BadZipFile,
    zipfile.LargeZipFile,
    OSError,
    EOFError,
    RuntimeError,
    ValueError,
    struct.error,
    zlib.error,
    lzma.LZMAError,
)


@dataclass(frozen=True)
class RawSpl:
    """The raw bytes of one SPL XML file and a human-readable name of where they came from."""

    source: str
    data: bytes


@dataclass(frozen=True)
class Reject:
    """An input that could not be read, with the one-line reason."""

    source: str
    reason: str


@dataclass(frozen=True)
class InnerZip:
    """A ZIP member that is itself a ZIP (a release's label), not yet unpacked: a parse process
    unpacks it (`labels`), so inflating and hashing its XML leave this one.

    Stored uncompressed in a ZIP file on disk (as DailyMed packs its releases), it is not even
    read here: it comes as where its bytes lie (`path`, `offset`, `size`; `data` empty), and
    the parse process reads there only what it needs (the inner ZIP's directory and its XML),
    so a release's images (most of its 3 GB a part) are neither read from disk nor piped.
    """

    source: str
    data: bytes
    depth: int  # the depth its members are read at
    path: str | None = None  # the outer ZIP file holding it, when `data` is to be read there
    offset: int = 0
    size: int = 0

    def labels(self) -> Iterator[Item]:
        """Every SPL XML inside, or a Reject per bad member, as `iter_zip_bytes` gives them.

        Read in place, the member's own CRC is not checked: its image bytes are never read,
        and the XML inside is checked against its own CRC when it is inflated.
        """
        if self.path is None:
            yield from iter_zip_bytes(self.data, self.source, self.depth)
            return
        try:
            handle = open(self.path, "rb")  # noqa: SIM115 - closed below, after the generator
        except OSError as exc:
            yield Reject(self.source, f"cannot read file: {exc.strerror or exc}")
            return
        with handle:
            readable = max(0, min(self.size, os.fstat(handle.fileno()).st_size - self.offset))
            if readable < self.size:
                yield Reject(
                    self.source, f"truncated ZIP member: {readable} of {self.size} bytes readable"
                )
                return
            window = _Window(handle.fileno(), self.offset, self.size)
            yield from _iter_whole_zip(window, self.size, self.source, depth=self.depth)


class _Window(io.RawIOBase):
    """Read-only file view of `size` bytes at `offset` of an open file (positioned reads, so
    the file's own position is never moved)."""

    def __init__(self, fileno: int, offset: int, size: int):
        super().__init__()
        self._fileno, self._offset, self._size, self._position = fileno, offset, size, 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._position

    def seek(self, position: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._position, io.SEEK_END: self._size}[whence]
        if base + position < 0:
            raise OSError(f"negative seek position {base + position}")
        self._position = base + position
        return self._position

    def readinto(self, buffer) -> int:
        count = max(0, min(len(buffer), self._size - self._position))
        data = os.pread(self._fileno, count, self._offset + self._position) if count else b""
        buffer[: len(data)] = data
        self._position += len(data)
        return len(data)


Item = RawSpl | Reject
MemberFilter = Callable[[str], bool]


def _is_xml_name(name: str) -> bool:
    """True for a file or member name ending in .xml (any case)."""
    return name.lower().endswith(".xml")


def _is_zip_name(name: str) -> bool:
    """True for a file or member name ending in .zip (any case)."""
    return name.lower().endswith(".zip")


def unsafe_member_name(name: str) -> str | None:
    """Say why a ZIP member name could escape an extraction folder, or None when it is safe.

    adme never extracts, but a release holding such names has been tampered with or is not a
    DailyMed release, so its member is rejected rather than trusted.
    """
    if name.startswith(("/", "\\")) or re.match(r"^[A-Za-z]:", name):
        return "unsafe member name (absolute path)"
    if ".." in PurePosixPath(name.replace("\\", "/")).parts:
        return "unsafe member name (parent directory '..')"
    return None


def _symlink_fault(info: zipfile.ZipInfo) -> str | None:
    """A member stored as a Unix symbolic link holds a path, not a label: say so."""
    if info.create_system == 3 and stat.S_ISLNK(info.external_attr >> 16):
        return "unsafe member (symbolic link)"
    return None


class _TooBig(Exception):
    """A member inflated past MAX_MEMBER_BYTES while it was read."""


def _bomb_fault(info: zipfile.ZipInfo) -> str | None:
    """Check a member's declared sizes against the size and compression-ratio caps."""
    if info.file_size > MAX_MEMBER_BYTES:
        return f"ZIP bomb: {info.file_size} bytes uncompressed exceeds {MAX_MEMBER_BYTES}"
    if info.file_size > RATIO_FLOOR_BYTES:
        ratio = info.file_size / max(info.compress_size, 1)
        if ratio > MAX_RATIO:
            return f"ZIP bomb: compression ratio {ratio:.0f}:1 exceeds {MAX_RATIO}:1"
    return None


def _read_capped(archive: zipfile.ZipFile, info: zipfile.ZipInfo) -> bytes:
    """Read one member, stopping at the cap even when its header lies about the size."""
    chunks = []
    total = 0
    with archive.open(info) as stream:
        while chunk := stream.read(_READ_CHUNK):
            total += len(chunk)
            if total > MAX_MEMBER_BYTES:
                raise _TooBig(f"ZIP bomb: more than {MAX_MEMBER_BYTES} bytes uncompressed")
            chunks.append(chunk)
    return b"".join(chunks)


def iter_zip(
    archive: zipfile.ZipFile,
    name: str,
    depth: int = 1,
    keep: MemberFilter | None = None,
    unpack: bool = True,
) -> Iterator[Item | InnerZip]:
    """Yield every SPL XML inside a ZIP (and inside its inner ZIPs), or a Reject per bad member.

    `name` is how the archive is shown to the user; members are shown as `name!member`. With
    `unpack` False, inner ZIPs come out as InnerZip, for the caller to unpack elsewhere.
    """
    members = sorted((i for i in archive.infolist() if not i.is_dir()), key=lambda i: i.filename)
    for info in members:
        if keep is not None and depth == 1 and not keep(info.filename):
            continue  # e.g. an update ZIP's OTC labels when only prescription ones are wanted
        source = f"{name}!{info.filename}"
        if not (_is_xml_name(info.filename) or _is_zip_name(info.filename)):
            continue  # images and other attachments of a label
        fault = unsafe_member_name(info.filename) or _symlink_fault(info) or _bomb_fault(info)
        if fault:
            yield Reject(source, fault)
            continue
        if not unpack and depth < MAX_ZIP_DEPTH and _is_zip_name(info.filename):
            in_place = _stored_in_place(archive, info, source, depth + 1)
            if in_place is not None:
                yield in_place
                continue
        try:
            data = _read_capped(archive, info)
        except _TooBig as exc:
            yield Reject(source, str(exc))
            continue
        except _ZIP_FAULTS as exc:
            yield Reject(source, f"unreadable ZIP member: {_one_line(exc)}")
            continue
        if _is_xml_name(info.filename):
            yield RawSpl(source, data)
        elif depth >= MAX_ZIP_DEPTH:
            yield Reject(source, "ZIP nested deeper than a DailyMed release")
        elif not unpack:
            yield InnerZip(source, data, depth + 1)
        else:
            yield from iter_zip_bytes(data, source, depth + 1)


_LOCAL_HEADER = struct.Struct("<4sHHHHHIIIHH")  # a member's local file header
_LOCAL_SIG = b"PK\x03\x04"


def _stored_in_place(
    archive: zipfile.ZipFile, info: zipfile.ZipInfo, source: str, depth: int
) -> InnerZip | None:
    """An inner ZIP stored uncompressed in a ZIP file on disk, as where its bytes lie; None
    when it must be read through `zipfile` (deflated, encrypted, an archive in memory, or a
    local header `zipfile` would refuse, so the refusal stays its own)."""
    path = archive.filename  # None for an archive in memory
    if not path or info.compress_type != zipfile.ZIP_STORED or info.flag_bits & 0x1:
        return None
    # One read: the local header and the name the central directory gives the member.
    try:
        expected = len(info.orig_filename.encode("utf-8" if info.flag_bits & 0x800 else "cp437"))
        header = os.pread(archive.fp.fileno(), _LOCAL_HEADER.size + expected, info.header_offset)
    except (OSError, AttributeError, io.UnsupportedOperation, UnicodeEncodeError):
        return None
    if len(header) != _LOCAL_HEADER.size + expected:
        return None
    signature, _, flags, method, *_, name_length, extra_length = _LOCAL_HEADER.unpack_from(header)
    if signature != _LOCAL_SIG or method != zipfile.ZIP_STORED or flags & 0x1:
        return None
    name = header[_LOCAL_HEADER.size :]
    if (
        name_length != expected
        or name.decode("utf-8" if flags & 0x800 else "cp437", "replace") != info.orig_filename
    ):
        return None
    offset = info.header_offset + _LOCAL_HEADER.size + name_length + extra_length
    return InnerZip(source, b"", depth, os.path.abspath(path), offset, info.compress_size)


def iter_zip_bytes(data: bytes, name: str, depth: int = 1) -> Iterator[Item]:
    """Yield the SPL XML inside a ZIP held in memory (an inner ZIP or a version download)."""
    yield from _iter_whole_zip(io.BytesIO(data), len(data), name, depth=depth)


def _iter_whole_zip(
    handle: BinaryIO, size: int, name: str, **read: object
) -> Iterator[Item | InnerZip]:
    """`iter_zip` over an open ZIP once it is whole (`zip_end_fault`), else one Reject."""
    try:
        archive = _checked_zip(handle, size, name)
    except _NotWhole as exc:
        yield Reject(name, str(exc))
        return
    except _ZIP_FAULTS as exc:
        yield Reject(name, f"not a valid ZIP file: {_one_line(exc)}")
        return
    with archive:
        yield from iter_zip(archive, name, **read)


def _read_at(handle: BinaryIO, offset: int, size: int) -> bytes:
    handle.seek(offset)
    return handle.read(size)


def _find_end_record(tail: bytes) -> int | None:
    """Where in `tail` (the file's last bytes) an end record starts that ends the file exactly."""
    pos = len(tail)
    while (pos := tail.rfind(_EOCD_SIG, 0, pos)) >= 0:
        if pos + _EOCD.size <= len(tail):
            comment_length = _EOCD.unpack_from(tail, pos)[-1]
            if pos + _EOCD.size + comment_length == len(tail):
                return pos
    return None


def zip_end_fault(handle: BinaryIO, size: int) -> str | None:
    """Why a ZIP's end is not where a whole file's would be, or None when it is.

    A release cut short (a failed download) still holds complete inner ZIPs, and `zipfile`
    searches backwards for an end record, so it finds the last inner ZIP's and reads the whole
    release as that one label. So before trusting `zipfile`: the end-of-central-directory
    record must end exactly where the file ends, and the central directory it points at (ZIP64
    included) must end exactly where that record (or the ZIP64 one) starts.
    """
    # An end record without a comment (every DailyMed ZIP) is the last 22 bytes: read those
    # first, and the 64 kB a comment may take only when they are not one.
    tail_size = min(size, _EOCD.size)
    tail = _read_at(handle, size - tail_size, tail_size)
    found = _find_end_record(tail)
    if found is None and size > tail_size:
        tail_size = min(size, _EOCD.size + _MAX_COMMENT)
        tail = _read_at(handle, size - tail_size, tail_size)
        found = _find_end_record(tail)
    if found is None:
        if not _read_at(handle, 0, 4).startswith((_ZIP_MAGIC, _EOCD_SIG)):
            return "not a valid ZIP file: neither a ZIP header nor an end record"
        return (
            f"truncated ZIP: no end-of-central-directory record where the file ends "
            f"({size} bytes; a download cut short?)"
        )
    end_at = size - tail_size + found
    _, _, _, _, entries, cd_size, cd_offset, _ = _EOCD.unpack_from(tail, found)
    record_at = end_at
    locator_at = end_at - _ZIP64_LOCATOR.size
    locator = _read_at(handle, locator_at, _ZIP64_LOCATOR.size) if locator_at >= 0 else b""
    if locator.startswith(_ZIP64_LOCATOR_SIG):
        record_at = _ZIP64_LOCATOR.unpack(locator)[2]
        record = _read_at(handle, record_at, _ZIP64_EOCD.size) if record_at < locator_at else b""
        if len(record) < _ZIP64_EOCD.size or not record.startswith(_ZIP64_EOCD_SIG):
            return f"damaged ZIP: no ZIP64 end record at offset {record_at}"
        fields = _ZIP64_EOCD.unpack(record)
        entries, cd_size, cd_offset = fields[7], fields[8], fields[9]
        if record_at + 12 + fields[1] != locator_at:
            return f"damaged ZIP: ZIP64 end record at offset {record_at} has the wrong size"
    if cd_offset + cd_size != record_at:
        return (
            f"truncated or damaged ZIP: the central directory (offset {cd_offset}, "
            f"{cd_size} bytes) does not end where its end record starts (offset {record_at})"
        )
    if entries and _read_at(handle, cd_offset, 4) != _CENTRAL_SIG:
        return f"damaged ZIP: no central directory at offset {cd_offset}"
    return None


def _checked_zip(handle: BinaryIO, size: int, name: str) -> zipfile.ZipFile:
    """Open a ZIP only once its end is where a whole file's is (see `zip_end_fault`)."""
    fault = zip_end_fault(handle, size)
    if fault is not None:
        raise _NotWhole(fault)
    handle.seek(0)
    return zipfile.ZipFile(handle)


class _NotWhole(Exception):
    """A ZIP cut short or damaged: its end record is not where the file ends."""


def _one_line(exc: BaseException) -> str:
    """An exception as one line of text (its type when it has no message)."""
    return " ".join(str(exc).split()) or type(exc).__name__


def _iter_zip_file(
    path: Path, name: str, keep: MemberFilter | None, unpack: bool = True
) -> Iterator[Item | InnerZip]:
    """Yield the SPL XML inside a ZIP file on disk, member by member."""
    try:
        handle = path.open("rb")
    except OSError as exc:
        yield Reject(str(path), f"cannot read file: {exc.strerror or exc}")
        return
    with handle:
        try:
            size = os.fstat(handle.fileno()).st_size
        except OSError as exc:
            yield Reject(name, f"cannot read file: {exc.strerror or exc}")
            return
        yield from _iter_whole_zip(handle, size, name, keep=keep, unpack=unpack)


def _iter_file(
    path: Path, name: str, keep: MemberFilter | None = None, unpack: bool = True
) -> Iterator[Item | InnerZip]:
    """Yield the SPL XML of one file: itself, or the members of a ZIP (by name or content).

    `name` is how the file is shown and recorded (its path, or the URL it was downloaded from).
    """
    if _is_zip_name(path.name):
        yield from _iter_zip_file(path, name, keep, unpack)
        return
    data = read_label_file(path)
    if isinstance(data, Reject):
        yield data
        return
    if not _is_xml_name(path.name) and data.startswith(_ZIP_MAGIC):
        yield from iter_zip_bytes(data, str(path))  # a ZIP without the .zip name
    else:
        yield RawSpl(str(path), data)


def read_label_file(path: Path) -> bytes | Reject:
    """A plain file's bytes, read whole but never more than MAX_MEMBER_BYTES (a Reject then).

    The cap keeps `--from /dev/zero` (or a FIFO, or a huge file named .xml) from eating memory.
    """
    try:
        with Path(path).open("rb") as handle:
            data = handle.read(MAX_MEMBER_BYTES + 1)
    except OSError as exc:
        return Reject(str(path), f"cannot read file: {exc.strerror or exc}")
    if len(data) > MAX_MEMBER_BYTES:
        return Reject(str(path), f"file larger than {MAX_MEMBER_BYTES} bytes: not an SPL label")
    return data


def _folder_files(folder: Path) -> list[Path]:
    """Every .xml and .zip file under `folder`, recursively, in a fixed (sorted) order."""
    return sorted(
        p
        for p in folder.rglob("*")
        if p.is_file() and (_is_xml_name(p.name) or _is_zip_name(p.name))
    )


def check_input(path: Path) -> list[Path]:
    """Return the files `path` stands for, or raise a one-line AdmeError when there are none.

    Called before the database is opened, so a typo in a path never creates an empty database.
    """
    path = Path(path)
    if not path.exists():
        raise AdmeError(f"{path}: no such file or folder")
    if path.is_dir():
        files = _folder_files(path)
        if not files:
            raise AdmeError(f"{path}: folder holds no .xml or .zip files")
        return files
    return [path]


def iter_spl(path: Path) -> Iterator[Item]:
    """Yield every SPL XML found at `path` (file, folder, release ZIP, folder of inner ZIPs).

    Bad members come out as Reject items, in order, so one bad file never stops the others.
    Memory is bounded by the largest single member, never by the size of the release.
    """
    yield from iter_files(check_input(Path(path)))


def iter_files(
    files: list[Path],
    names: dict[Path, str] | None = None,
    keep: MemberFilter | None = None,
    unpack: bool = True,
) -> Iterator[Item | InnerZip]:
    """Yield every SPL XML inside the given files (as listed by `check_input`).

    `names` shows a file by another name than its path (a download by its URL, so the sources
    recorded do not depend on where it was saved); `keep` picks a ZIP's top-level members;
    `unpack` False leaves the inner ZIPs of a ZIP file packed (InnerZip).
    """
    for file in files:
        yield from _iter_file(file, (names or {}).get(file, str(file)), keep, unpack)


def estimate_count(files: list[Path]) -> int | None:
    """Cheap count of the labels behind `files`, for a progress bar (None when unknown)."""
    count = 0
    for file in files:
        if not _is_zip_name(file.name):
            count += 1
            continue
        try:
            with zipfile.ZipFile(file) as archive:
                count += sum(
                    1
                    for i in archive.infolist()
                    if _is_xml_name(i.filename) or _is_zip_name(i.filename)
                )
        except _ZIP_FAULTS:
            count += 1
    return count or None
