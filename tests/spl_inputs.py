"""Builders for the inputs `adme fetch --from` takes, made from the real labels in data/spl.

A DailyMed release is a ZIP of inner ZIPs named `YYYYMMDD_<setid>.zip` under `prescription/`,
each holding one SPL XML named by its document id plus the label's images.
"""

from __future__ import annotations

import io
import re
import uuid
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SAMPLE = ROOT / "data" / "spl"


def sample_files(n: int | None = None) -> list[Path]:
    """The first `n` real labels of the shipped sample (all when n is None)."""
    files = sorted(SAMPLE.glob("*.xml"))
    return files if n is None else files[:n]


def inner_zip(xml: bytes, with_image: bool = True) -> bytes:
    """One release member: the label XML plus an image, as DailyMed packs it."""
    document_id = re.search(rb'<id root="([^"]+)"', xml).group(1).decode()
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(f"{document_id}.xml", xml)
        if with_image:
            archive.writestr("label-image.jpg", b"\xff\xd8\xff\xe0" + bytes(range(256)) * 8)
    return buffer.getvalue()


def inner_zip_name(xml: bytes) -> str:
    """`YYYYMMDD_<setid>.zip`, the name a release gives a label's inner ZIP."""
    setid = re.search(rb'<setId root="([^"]+)"', xml).group(1).decode()
    date = re.search(rb'<effectiveTime value="(\d{8})', xml).group(1).decode()
    return f"{date}_{setid}.zip"


def zip_of(members: dict[str, bytes]) -> bytes:
    """A ZIP in memory holding `members` (name -> bytes) as written, none compressed."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_STORED) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return buffer.getvalue()


def write_release(path: Path, xmls: list[bytes], extra: dict[str, bytes] | None = None) -> Path:
    """Write a bulk release ZIP (inner ZIPs stored, as DailyMed does) plus `extra` members."""
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as archive:
        for xml in xmls:
            archive.writestr(f"prescription/{inner_zip_name(xml)}", inner_zip(xml))
        for name, data in (extra or {}).items():
            archive.writestr(name, data)
    return path


def write_inner_zip_folder(folder: Path, xmls: list[bytes]) -> Path:
    """A folder of inner ZIPs, as left by unpacking only the outer layer of a release."""
    folder.mkdir(parents=True, exist_ok=True)
    for xml in xmls:
        (folder / inner_zip_name(xml)).write_bytes(inner_zip(xml))
    return folder


def relabelled(xml: bytes, seed: int) -> bytes:
    """A copy of a real label with a new document id and set id (a distinct label to store)."""
    new_id = str(uuid.UUID(int=seed * 2 + 1))
    new_set = str(uuid.UUID(int=seed * 2 + 2))
    xml = re.sub(rb'(<document[^>]*>\s*<id root=")[^"]+', rb"\g<1>" + new_id.encode(), xml, count=1)
    return re.sub(rb'(<setId root=")[^"]+', rb"\g<1>" + new_set.encode(), xml, count=1)


MALFORMED = b'<?xml version="1.0"?><document xmlns="urn:hl7-org:v3"><id root="x"></documen>'

NOT_SPL = b'<?xml version="1.0"?><rss version="2.0"><channel><title>news</title></channel></rss>'

XXE = b"""<?xml version="1.0"?>
<!DOCTYPE document [<!ENTITY secret SYSTEM "file:///etc/passwd">]>
<document xmlns="urn:hl7-org:v3"><id root="a"/><setId root="b"/><versionNumber value="1"/>
<title>&secret;</title></document>"""

BILLION_LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [
 <!ENTITY lol "lol">
 <!ENTITY lol1 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol2 "&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
 <!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
 <!ENTITY lol5 "&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;">
 <!ENTITY lol6 "&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;">
 <!ENTITY lol7 "&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;">
 <!ENTITY lol8 "&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;">
 <!ENTITY lol9 "&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;">
]>
<document xmlns="urn:hl7-org:v3"><id root="a"/><setId root="b"/><versionNumber value="1"/>
<title>&lol9;</title></document>"""


def truncated(xml: bytes) -> bytes:
    """A real label cut in the middle, as a failed download leaves it."""
    return xml[: len(xml) // 2]


def zip_bomb_member() -> bytes:
    """8 MB of one byte: compresses above 1000:1, far beyond any real label."""
    return b"<" + b" " * (8 * 1024 * 1024) + b">"


def write_zip_of_copies(path: Path, data: bytes, count: int, name: str = "big{:03d}.xml") -> Path:
    """A ZIP of `count` deflated members all holding `data`, deflated once (fast to build).

    Written by hand (local headers, central directory, end record) because `zipfile` would
    deflate the same bytes `count` times; `zipfile` reads the result like any other ZIP.
    """
    import struct
    import zlib

    packer = zlib.compressobj(1, zlib.DEFLATED, -15)
    deflated = packer.compress(data) + packer.flush()
    crc = zlib.crc32(data)
    central = []
    with path.open("wb") as out:
        for i in range(count):
            member = name.format(i).encode()
            offset = out.tell()
            out.write(
                struct.pack(
                    "<4s5H3I2H",
                    b"PK\x03\x04",
                    20,
                    0,
                    8,
                    0,
                    0,
                    crc,
                    len(deflated),
                    len(data),
                    len(member),
                    0,
                )
            )
            out.write(member)
            out.write(deflated)
            central.append(
                struct.pack(
                    "<4s6H3I5H2I",
                    b"PK\x01\x02",
                    20,
                    20,
                    0,
                    8,
                    0,
                    0,
                    crc,
                    len(deflated),
                    len(data),
                    len(member),
                    0,
                    0,
                    0,
                    0,
                    0,
                    offset,
                )
                + member
            )
        start = out.tell()
        out.write(b"".join(central))
        size = out.tell() - start
        out.write(struct.pack("<4s4H2IH", b"PK\x05\x06", 0, 0, count, count, size, start, 0))
    return path
