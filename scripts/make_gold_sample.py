"""Rebuild data/gold_sample.jsonl: the hand labels of ../shared/gold for the shipped sample.

Run once by maintainers, like make_sample.py. Keeps the agreed lines of
../shared/gold/unlabelled_gold.jsonl whose text is a paragraph of a label in data/spl/
(matched on adme's text hash, or on the lower-cased, whitespace-normalised text), so the
quick start can score its models on paragraphs the rule leaves unlabelled.
"""

import json
import sys
from pathlib import Path

from adme.spl import parse_spl
from adme.store import text_hash

gold_file = Path(sys.argv[1] if len(sys.argv) > 1 else "../shared/gold/unlabelled_gold.jsonl")
root = Path(__file__).resolve().parent.parent
hashes = {
    text_hash(p.text)
    for xml in sorted((root / "data" / "spl").glob("*.xml"))
    for p in parse_spl(xml.read_bytes(), str(xml)).paragraphs
}
kept = []
for line in gold_file.read_text().splitlines():
    row = json.loads(line)
    if row["label"] and (row["text_hash"] in hashes or text_hash(row["text"]) in hashes):
        kept.append({k: row[k] for k in ("text_hash", "label", "drug", "text")})
out = root / "data" / "gold_sample.jsonl"
out.write_text("".join(json.dumps(row, ensure_ascii=False) + "\n" for row in kept))
print(f"{out}: {len(kept)} agreed hand labels of paragraphs in data/spl")
