"""Where SPL bytes come from: files, folders, release ZIPs; unsafe members; the cache."""

from __future__ import annotations

import io
import os
import random
import stat
import zipfile

import pytest

from adme import cache, sources
from adme.errors import AdmeError, SplError
from tests.spl_inputs import (
    inner_zip,
    sample_files,
    write_inner_zip_folder,
    write_release,
    zip_bomb_member,
)


def raw_items(items):
    return [i for i in items if isinstance(i, sources.RawSpl)]


def rejects(items):
    return [i for i in items if isinstance(i, sources.Reject)]


def test_single_xml_file():
    (path,) = sample_files(1)
    items = list(sources.iter_spl(path))
    assert items == [sources.RawSpl(str(path), path.read_bytes())]


def test_folder_of_xml_is_read_recursively_in_order(tmp_path):
    files = sample_files(4)
    (tmp_path / "sub").mkdir()
    for i, f in enumerate(files):
        target = tmp_path / ("sub" if i % 2 else "") / f.name
        target.write_bytes(f.read_bytes())
    (tmp_path / "notes.txt").write_text("not a label")
    items = list(sources.iter_spl(tmp_path))
    assert sorted(i.data for i in items) == sorted(f.read_bytes() for f in files)
    assert not rejects(items)


def test_release_zip_of_inner_zips_streams_every_label(tmp_path):
    xmls = [f.read_bytes() for f in sample_files(5)]
    release = write_release(tmp_path / "dm_spl_release_human_rx_part1.zip", xmls)
    items = list(sources.iter_spl(release))
    assert [i.data for i in items] == sorted(xmls, key=lambda x: _inner_name_order(x))
    assert all(i.source.startswith(f"{release}!prescription/") for i in items)
    assert all(".zip!" in i.source and i.source.endswith(".xml") for i in items)
    assert sources.estimate_count([release]) == 5


def _inner_name_order(xml: bytes) -> str:
    from tests.spl_inputs import inner_zip_name

    return inner_zip_name(xml)


def test_folder_of_inner_zips(tmp_path):
    xmls = [f.read_bytes() for f in sample_files(3)]
    folder = write_inner_zip_folder(tmp_path / "inner", xmls)
    items = list(sources.iter_spl(folder))
    assert sorted(i.data for i in items) == sorted(xmls)
    assert not rejects(items)


def _inner_zips(release):
    return list(sources.iter_files([release], unpack=False))


def test_stored_inner_zips_are_handed_out_by_position_and_read_there(tmp_path):
    # DailyMed stores its inner ZIPs uncompressed: the parse processes read them in place, so
    # a release's gigabytes (images mostly) never pass through adme's main process.
    xmls = [f.read_bytes() for f in sample_files(3)]
    release = write_release(tmp_path / "release.zip", xmls)
    packed = _inner_zips(release)
    assert all(p.data == b"" and p.path == str(release.resolve()) for p in packed)
    assert all(p.depth == 2 for p in packed)
    read_in_place = [item for p in packed for item in p.labels()]
    assert read_in_place == list(sources.iter_spl(release))  # what unpacking here gives
    assert sorted(i.data for i in read_in_place) == sorted(xmls)


def test_reading_in_place_skips_the_images(tmp_path, monkeypatch):
    xml = sample_files(1)[0].read_bytes()
    image = os.urandom(2_000_000)
    inner = io.BytesIO()
    with zipfile.ZipFile(inner, "w") as archive:
        archive.writestr("label.xml", xml, zipfile.ZIP_DEFLATED)
        archive.writestr("image.jpg", image)
    release = tmp_path / "release.zip"
    with zipfile.ZipFile(release, "w") as archive:
        archive.writestr("prescription/20240101_x.zip", inner.getvalue())
    (packed,) = _inner_zips(release)
    read = []
    real_pread = os.pread
    monkeypatch.setattr(sources.os, "pread", lambda *a: read.append(a[1]) or real_pread(*a))
    (item,) = packed.labels()
    assert item.data == xml
    assert 0 < sum(read) < len(xml)  # the deflated XML and the directory, not the image


def test_deflated_inner_zips_are_read_through_zipfile(tmp_path):
    xml = sample_files(1)[0].read_bytes()
    release = tmp_path / "release.zip"
    with zipfile.ZipFile(release, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("prescription/20240101_x.zip", inner_zip(xml))
    (packed,) = _inner_zips(release)
    assert packed.path is None and packed.data == inner_zip(xml)
    assert [i.data for i in packed.labels()] == [xml]


def test_an_inner_zip_gone_when_read_in_place_is_a_reject(tmp_path):
    release = write_release(tmp_path / "release.zip", [sample_files(1)[0].read_bytes()])
    (packed,) = _inner_zips(release)
    with release.open("r+b") as handle:  # the file shrank after it was listed
        handle.truncate(packed.offset + 10)
    (reject,) = packed.labels()
    assert reject == sources.Reject(
        packed.source, f"truncated ZIP member: 10 of {packed.size} bytes readable"
    )
    release.unlink()
    (reject,) = packed.labels()
    assert reject.reason.startswith("cannot read file: ")


@pytest.mark.parametrize(
    ("where", "fault"),
    [
        (lambda packed: packed.offset + packed.size - 10, "damaged ZIP"),  # its end record
        (lambda packed: packed.offset + 30 + 40 + 500, "unreadable ZIP member"),  # its XML
    ],
    ids=["end record", "deflated XML"],
)
def test_an_inner_zip_damaged_in_place_is_a_reject_not_a_crash(tmp_path, where, fault):
    release = write_release(tmp_path / "release.zip", [sample_files(1)[0].read_bytes()])
    (packed,) = _inner_zips(release)
    data = bytearray(release.read_bytes())
    data[where(packed)] ^= 0xFF  # the XML's local header is 30 bytes and a 40-byte name
    release.write_bytes(bytes(data))
    (reject,) = packed.labels()
    assert reject.source.startswith(packed.source) and fault in reject.reason
    assert "\n" not in reject.reason


def test_an_inner_zip_whose_local_header_disagrees_is_refused_as_zipfile_refuses_it(tmp_path):
    release = write_release(tmp_path / "release.zip", [sample_files(1)[0].read_bytes()])
    data = bytearray(release.read_bytes())
    data[30] ^= 0x20  # the local header's name, "prescription/..." -> "Prescription/..."
    release.write_bytes(bytes(data))
    (reject,) = _inner_zips(release)
    assert reject.reason.startswith("unreadable ZIP member: File name in directory")


@pytest.mark.parametrize(
    ("member", "fault"),
    [
        ("../../escaped.xml", "parent directory"),
        ("prescription/../../escaped.xml", "parent directory"),
        ("/tmp/absolute.xml", "absolute path"),
        ("C:/windows/absolute.xml", "absolute path"),
    ],
)
def test_unsafe_member_names_are_rejected_and_nothing_is_written(tmp_path, member, fault):
    good = sample_files(1)[0].read_bytes()
    release = tmp_path / "release.zip"
    with zipfile.ZipFile(release, "w") as archive:
        archive.writestr("ok.xml", good)
        archive.writestr(member, good)
    before = set(tmp_path.parent.rglob("*"))
    items = list(sources.iter_spl(release))
    assert [i.data for i in raw_items(items)] == [good]
    (reject,) = rejects(items)
    assert reject.source == f"{release}!{member}"
    assert fault in reject.reason and "\n" not in reject.reason
    assert set(tmp_path.parent.rglob("*")) == before


def test_unsafe_member_inside_an_inner_zip(tmp_path):
    good = sample_files(1)[0].read_bytes()
    inner = tmp_path / "20240101_x.zip"
    with zipfile.ZipFile(inner, "w") as archive:
        archive.writestr("../label.xml", good)
    release = tmp_path / "release.zip"
    with zipfile.ZipFile(release, "w") as archive:
        archive.write(inner, "prescription/20240101_x.zip")
    inner.unlink()
    (reject,) = list(sources.iter_spl(release))
    assert reject.source.endswith("20240101_x.zip!../label.xml")
    assert "unsafe member name" in reject.reason


def test_zip_bomb_by_compression_ratio(tmp_path):
    good = sample_files(1)[0].read_bytes()
    release = tmp_path / "bomb.zip"
    with zipfile.ZipFile(release, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("bomb.xml", zip_bomb_member())
        archive.writestr("good.xml", good)
    items = list(sources.iter_spl(release))
    assert [i.data for i in raw_items(items)] == [good]
    (reject,) = rejects(items)
    assert reject.source.endswith("!bomb.xml") and "ZIP bomb: compression ratio" in reject.reason


def test_zip_bomb_by_uncompressed_size(tmp_path, monkeypatch):
    # A cap of 1 MB stands in for the real 256 MB, so the test need not write 256 MB.
    monkeypatch.setattr(sources, "MAX_MEMBER_BYTES", 1024 * 1024)
    release = tmp_path / "big.zip"
    with zipfile.ZipFile(release, "w", zipfile.ZIP_STORED) as archive:
        archive.writestr("big.xml", os.urandom(2 * 1024 * 1024))
    (reject,) = list(sources.iter_spl(release))
    assert "ZIP bomb" in reject.reason and "exceeds 1048576" in reject.reason


@pytest.mark.parametrize(
    ("data", "fault"),
    [
        (b"PK\x03\x04 this is not really a zip", "truncated ZIP: no end-of-central-directory"),
        (b"this is not a zip at all", "not a valid ZIP file"),
    ],
)
def test_corrupt_zip_is_a_reject_not_a_crash(tmp_path, data, fault):
    bad = tmp_path / "20240101_broken.zip"
    bad.write_bytes(data)
    (reject,) = list(sources.iter_spl(bad))
    assert reject.source == str(bad) and reject.reason.startswith(fault)


def test_empty_folder_is_a_one_line_error(tmp_path):
    with pytest.raises(AdmeError, match="folder holds no .xml or .zip files"):
        sources.check_input(tmp_path)
    (tmp_path / "readme.txt").write_text("x")
    with pytest.raises(AdmeError, match="holds no"):
        list(sources.iter_spl(tmp_path))


def test_missing_path_is_a_one_line_error(tmp_path):
    with pytest.raises(AdmeError, match="no such file or folder") as raised:
        sources.check_input(tmp_path / "nope")
    assert str(tmp_path / "nope") in str(raised.value)


def test_cache_is_content_addressed_and_atomic(tmp_path):
    data = sample_files(1)[0].read_bytes()
    digest = cache.put(tmp_path, data)
    assert digest == cache.sha256_of(data)
    path = tmp_path / digest[:2] / f"{digest}.xml"
    assert path.read_bytes() == data
    assert cache.get(tmp_path, digest) == data
    assert cache.put(tmp_path, data) == digest  # second put is a no-op
    assert [p.name for p in tmp_path.rglob("*") if p.is_file()] == [path.name]
    path.write_bytes(b"damaged")
    assert cache.get(tmp_path, digest) is None


def test_cache_never_leaves_its_root(tmp_path):
    root = tmp_path / "cache"
    for bad in ("../../../etc/passwd", "/etc/passwd", "AB" * 32):
        with pytest.raises(AdmeError, match="not a sha256"):
            cache.path_for(root, bad)
    with pytest.raises(AdmeError, match="not a valid cache key"):
        cache.remember(root, "../escape", "a" * 64)
    assert not (tmp_path / "escape").exists()


def test_cache_keys_map_versions_to_content(tmp_path):
    data = b"<document/>"
    digest = cache.put(tmp_path, data)
    assert cache.recall(tmp_path, "setid_v3") is None
    cache.remember(tmp_path, "setid_v3", digest)
    assert cache.recall(tmp_path, "setid_v3") == data


def _corrupt_deflate_release(good: bytes) -> bytes:
    """A release whose first member's deflate stream is garbage (CRC and sizes intact)."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("a_broken.xml", good)
        archive.writestr("b_good.xml", good)
    data = bytearray(buffer.getvalue())
    start = 30 + len("a_broken.xml")  # the first local header has no extra field
    for i in range(start + 2, start + 40):
        data[i] ^= 0xFF
    return bytes(data)


def test_corrupt_compressed_member_is_a_reject_and_the_next_member_is_read(tmp_path):
    good = sample_files(1)[0].read_bytes()
    release = tmp_path / "release.zip"
    release.write_bytes(_corrupt_deflate_release(good))
    items = list(sources.iter_spl(release))  # zlib.error used to end the whole run here
    assert [i.data for i in raw_items(items)] == [good]
    (reject,) = rejects(items)
    assert reject.source == f"{release}!a_broken.xml"
    assert reject.reason.startswith("unreadable ZIP member: ") and "\n" not in reject.reason


def test_zip_whose_directory_names_an_unknown_zip_version_is_a_reject(tmp_path):
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("label.xml", b"<document/>")
    data = bytearray(buffer.getvalue())
    central = data.find(b"PK\x01\x02")
    data[central + 6] = 99  # "version needed to extract" 9.9: NotImplementedError in zipfile
    for path in (tmp_path / "odd.zip", tmp_path / "20240101_odd"):  # by name, by content
        path.write_bytes(bytes(data))
        (reject,) = list(sources.iter_spl(path))
        assert reject.source == str(path) and "not a valid ZIP file" in reject.reason


def test_symlink_member_is_rejected(tmp_path):
    good = sample_files(1)[0].read_bytes()
    release = tmp_path / "release.zip"
    link = zipfile.ZipInfo("prescription/label.xml")
    link.create_system = 3
    link.external_attr = (stat.S_IFLNK | 0o777) << 16
    with zipfile.ZipFile(release, "w") as archive:
        archive.writestr(link, "/etc/passwd")
        archive.writestr("prescription/ok.xml", good)
    items = list(sources.iter_spl(release))
    assert [i.data for i in raw_items(items)] == [good]
    (reject,) = rejects(items)
    assert reject.source.endswith("!prescription/label.xml") and "symbolic link" in reject.reason


@pytest.mark.parametrize("method", [zipfile.ZIP_DEFLATED, zipfile.ZIP_BZIP2, zipfile.ZIP_LZMA])
def test_damaged_release_bytes_never_raise(method):
    # Random byte flips in a release of one inner ZIP: every outcome is items, never an exception.
    good = sample_files(1)[0].read_bytes()
    inner = io.BytesIO()
    with zipfile.ZipFile(inner, "w", method) as archive:
        archive.writestr("label.xml", good)
    outer = io.BytesIO()
    with zipfile.ZipFile(outer, "w", zipfile.ZIP_STORED) as archive:
        archive.writestr("prescription/20240101_x.zip", inner.getvalue())
    base = outer.getvalue()
    rng = random.Random(method)
    for _ in range(400):
        data = bytearray(base)
        for _ in range(rng.randint(1, 6)):
            data[rng.randrange(len(data))] = rng.randrange(256)
        for item in sources.iter_zip_bytes(bytes(data), "damaged.zip"):
            assert isinstance(item, sources.RawSpl | sources.Reject)
            if isinstance(item, sources.Reject):
                assert "\n" not in item.reason


def test_cache_put_repairs_a_file_cut_short_on_disk(tmp_path):
    data = sample_files(1)[0].read_bytes()
    digest = cache.sha256_of(data)
    path = tmp_path / digest[:2] / f"{digest}.xml"
    path.parent.mkdir()
    path.write_bytes(data[:100])  # e.g. a crash before the data reached the disk
    assert cache.get(tmp_path, digest) is None
    assert cache.put(tmp_path, data) == digest
    assert cache.get(tmp_path, digest) == data


def test_cache_write_failure_is_one_line(tmp_path):
    root = tmp_path / "cache"
    root.mkdir()
    (root / "keys").write_text("a file where the keys folder should be")
    digest = cache.put(root, b"<document/>")
    with pytest.raises(AdmeError, match="cannot write to cache") as raised:
        cache.remember(root, "setid_v1", digest)
    assert "\n" not in str(raised.value)


def test_errors_are_one_line_whatever_they_quote():
    error = AdmeError("GET http://x: HTTPConnectionPool(host='x')\n  Caused by\tthis")
    assert str(error) == "GET http://x: HTTPConnectionPool(host='x') Caused by this"
    assert str(AdmeError("keeps  inner  spacing")) == "keeps  inner  spacing"
    spl = SplError("data/x.xml", "malformed\r\nXML")
    assert str(spl) == "data/x.xml: malformed XML" and spl.fault == "malformed XML"
