"""Rebuild the shipped sample in data/ from a folder of real labels (../shared/spl).

Run once by maintainers; the project never reads ../shared at run or test time. The choice is
deterministic: a few labels of each drug class, every "bare 43682-4" shape, HUMIRA (untitled
paragraphs only), LIPITOR, three INOMAX versions, labels with no 43682-4 and non-label SPL.
data/spl/ is the training sample; data/new/ holds labels kept back for `adme label`.
"""

import csv
import json
import shutil
import sys
from pathlib import Path

source = Path(sys.argv[1] if len(sys.argv) > 1 else "../shared/spl")
rows = list(csv.DictReader((source / "SOURCES.tsv").read_text().splitlines(), delimiter="\t"))
size = {r["file"]: (source / r["folder"] / r["file"]).stat().st_size for r in rows}
openfda = {
    json.loads(line)["file"]: json.loads(line)
    for line in (source / "openfda_pharmacokinetics.jsonl").read_text().splitlines()
}

bare = sorted(
    f
    for f, o in openfda.items()
    if len(o["pharmacokinetics"]) == 1 and len(o["pharmacokinetics"][0].split()) <= 3
)
wanted: list[tuple[str, str]] = []  # (folder, file)
pick_per_generic = {
    "metformin hydrochloride": 4,
    "diclofenac sodium": 4,
    "celecoxib": 4,
    "meloxicam": 4,
    "ketorolac tromethamine": 3,
    "indomethacin": 3,
    "ibuprofen": 2,
    "diclofenac potassium": 1,
    "diclofenac sodium and misoprostol": 1,
    "hydrocodone bitartrate and ibuprofen": 1,
    "atorvastatin calcium": 2,
    "adalimumab": 1,
    "butalbital, aspirin and caffeine": 1,
    "aspirin and extended-release dipyridamole": 1,
    "naproxen and esomeprazole magnesium": 1,
}
for generic, n in pick_per_generic.items():
    files = sorted(
        (size[r["file"]], r["file"])
        for r in rows
        if r["folder"] == "labels" and r["generic_name"] == generic
    )
    wanted += [("labels", f) for _, f in files[:n]]
wanted += [("labels", f) for f in bare[:4]]
inomax = sorted(r["file"] for r in rows if r["generic_name"] == "nitric oxide")
wanted += [("labels", f) for f in inomax[:3]]
wanted += [
    ("no-pk", r["file"]) for r in sorted(rows, key=lambda r: r["file"]) if r["folder"] == "no-pk"
][:4]
wanted += [
    ("other-spl", r["file"])
    for r in sorted(rows, key=lambda r: r["file"])
    if r["folder"] == "other-spl"
][:2]
wanted = list(dict.fromkeys(wanted))

# held back for `adme label`: labels of the big classes not in the training sample
taken = {f for _, f in wanted}
new = []
for generic in [
    "metformin hydrochloride",
    "celecoxib",
    "meloxicam",
    "diclofenac sodium",
    "ketorolac tromethamine",
    "indomethacin",
]:
    files = sorted(
        (size[r["file"]], r["file"])
        for r in rows
        if r["folder"] == "labels" and r["generic_name"] == generic and r["file"] not in taken
    )
    new += [("labels", f) for _, f in files[:1]]

for target, chosen in [(Path("data/spl"), wanted), (Path("data/new"), new)]:
    shutil.rmtree(target, ignore_errors=True)
    target.mkdir(parents=True)
    for folder, f in chosen:
        shutil.copy(source / folder / f, target / f)
    print(target, len(chosen), sum(size[f] for _, f in chosen) // 1024, "KiB")

with open("tests/fixtures/openfda_sample.jsonl", "w") as out:
    for _, f in wanted:
        if f in openfda:
            out.write(json.dumps(openfda[f]) + "\n")
