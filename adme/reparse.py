"""`adme fetch --reparse [--sections]`: read what stored documents lack from their XML.

A database written by an older adme holds documents whose `products_found` is NULL; one
fetched without `--sections` holds documents whose `sections_found` is NULL. Their raw XML is
looked up in the cache (by sha256: every label fetched from DailyMed, and `--from` input stored
with `--keep-xml`), else at the `source` they were read from (a file, or a member of a ZIP,
when it is still there with the same bytes). Only `products` and `ingredients` (and with
`--sections`, `sections`) are written (store.fill_products, fill_sections): paragraphs,
predictions and every other stored row stay as they are. Documents whose XML is found nowhere
are listed, so the user can fetch them again.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from adme import cache, sources, store
from adme.errors import AdmeError, SplError
from adme.spl import Document, parse_spl
from adme.wording import count

BATCH_SIZE = 100


@dataclass
class ReparseSummary:
    """What one --reparse did."""

    filled: int = 0  # documents whose products were read
    sections_filled: int | None = None  # documents whose sections were kept (None: not asked)
    missing: list[tuple[str, str]] = field(default_factory=list)  # (set_id, source): no XML
    failed: list[tuple[str, str]] = field(default_factory=list)  # (source, fault)

    def line(self) -> str:
        """One-line summary printed at the end of `adme fetch --reparse`."""
        kept = (
            ""
            if self.sections_filled is None
            else f", sections kept for {count(self.sections_filled, 'stored document')}"
        )
        return (
            f"products read for {count(self.filled, 'stored document')}{kept}; "
            f"{len(self.missing)} without XML in the cache or at their source, "
            f"{len(self.failed)} that no longer parse{'s' if len(self.failed) == 1 else ''}"
        )


@dataclass(frozen=True)
class _Stored:
    document_id: str
    set_id: str
    sha256: str
    source: str


def reparse(
    db_path, cache_dir, other_inputs: Sequence[str] = (), sections: bool = False
) -> ReparseSummary:
    """Fill in the products of every stored document that has none read yet, and with
    `sections` the sections of those stored without (see module).

    `other_inputs` are the fetch options given beside --reparse, which works alone.
    """
    if other_inputs:
        raise AdmeError(f"--reparse reads stored documents only; drop {', '.join(other_inputs)}")
    if not Path(db_path).is_file():
        raise AdmeError(f"{db_path}: database does not exist (nothing to reparse)")
    cache.check_root(Path(cache_dir))
    summary = ReparseSummary(sections_filled=0 if sections else None)
    con = store.connect(db_path)
    try:
        pending = [_Stored(*row) for row in store.documents_to_fill(con, sections)]
        batch: list[Document] = []
        for stored, data in _raw_xml(pending, Path(cache_dir), summary):
            try:
                document = parse_spl(data, stored.source, stored.sha256, sections)
            except SplError as exc:
                summary.failed.append((stored.source, exc.fault))
                continue
            if document.document_id != stored.document_id:
                summary.failed.append((stored.source, "XML holds another document"))
                continue
            batch.append(document)
            if len(batch) >= BATCH_SIZE:
                _fill(con, batch, summary)
                batch = []
        _fill(con, batch, summary)
    finally:
        con.close()
    return summary


def _fill(con, batch: list[Document], summary: ReparseSummary) -> None:
    summary.filled += store.fill_products(con, batch)
    if summary.sections_filled is not None:
        summary.sections_filled += store.fill_sections(con, batch)


def _raw_xml(
    pending: list[_Stored], cache_dir: Path, summary: ReparseSummary
) -> Iterator[tuple[_Stored, bytes]]:
    """Each pending document with its raw XML: from the cache, a file, or a ZIP member."""
    in_zips: dict[str, list[_Stored]] = defaultdict(list)
    for stored in pending:
        data = cache.get(cache_dir, stored.sha256)
        if data is None and "!" not in stored.source:
            data = _file_bytes(Path(stored.source), stored.sha256)
        if data is not None:
            yield stored, data
        elif "!" in stored.source:
            in_zips[stored.source.split("!", 1)[0]].append(stored)
        else:
            summary.missing.append((stored.set_id, stored.source))
    for archive, wanted in in_zips.items():
        by_source = {s.source: s for s in wanted}
        found = set()
        if Path(archive).is_file():
            for item in sources.iter_files([Path(archive)]):
                stored = by_source.get(item.source)
                if (
                    isinstance(item, sources.RawSpl)
                    and stored is not None
                    and cache.sha256_of(item.data) == stored.sha256
                ):
                    found.add(item.source)
                    yield stored, item.data
        summary.missing.extend((s.set_id, s.source) for s in wanted if s.source not in found)


def _file_bytes(path: Path, sha256: str) -> bytes | None:
    """The file's bytes when it is still there unchanged (same sha256), else None."""
    try:
        if not path.is_file():
            return None
        data = path.read_bytes()
    except OSError:
        return None
    return data if cache.sha256_of(data) == sha256 else None
