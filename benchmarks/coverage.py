"""Word coverage of adme's extraction against openFDA's converter, over a folder of labels.

Usage: python benchmarks/coverage.py FOLDER JSONL
  FOLDER  the SPL XML files (e.g. ../shared/spl/labels)
  JSONL   openFDA's pharmacokinetics text per file
          (e.g. ../shared/spl/openfda_pharmacokinetics.jsonl)

Prints recall (share of openFDA's words found in the stored paragraphs, headings and path
titles), extra (share of stored words openFDA lacks), both without the bare-heading labels
whose openFDA text is just "Pharmacokinetics", and the five worst labels.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

from adme.coverage import compare, is_bare_heading, stored_words
from adme.spl import parse_spl


def main(folder: Path, jsonl: Path) -> None:
    """Parse every labelled file of FOLDER, compare with openFDA and print the figures."""
    entries = [json.loads(line) for line in jsonl.read_text().splitlines() if line.strip()]
    reference = recalled = stored = extra = 0
    bare = 0
    rows = []
    started = time.perf_counter()
    for entry in entries:
        path = folder / entry["file"]
        if not path.is_file():
            continue
        document = parse_spl(path.read_bytes(), str(path))
        texts = entry["pharmacokinetics"]
        if is_bare_heading(texts):
            bare += 1
            continue
        cover = compare(texts, stored_words(document.paragraphs))
        reference += cover.reference
        recalled += cover.recalled
        stored += cover.stored
        extra += cover.extra
        rows.append((cover.recall, cover.extra_share, entry["file"], document.pk_found))
    elapsed = time.perf_counter() - started
    print(f"labels compared: {len(rows)} (bare 43682-4 skipped: {bare}) in {elapsed:.1f} s")
    print(f"recall: {recalled / reference:.4f} ({recalled} of {reference} openFDA words)")
    print(f"extra:  {extra / stored:.4f} ({extra} of {stored} stored words)")
    print("worst recall:")
    for row in sorted(rows)[:5]:
        print(f"  recall {row[0]:.4f}  extra {row[1]:.4f}  {row[2]}  ({row[3]})")
    print("most extra:")
    for row in sorted(rows, key=lambda r: -r[1])[:5]:
        print(f"  recall {row[0]:.4f}  extra {row[1]:.4f}  {row[2]}  ({row[3]})")


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    main(Path(sys.argv[1]), Path(sys.argv[2]))
