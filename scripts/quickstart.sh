#!/usr/bin/env bash
# The whole adme flow on the labels shipped in data/, offline, on the CPU (a GPU is used if present).
# Each step is an ordinary adme command; run it again and every step is a no-op or a resume.
set -euo pipefail
cd "$(dirname "$0")/.."
DB=${ADME_DB:-data/adme.duckdb}
OUT=${ADME_OUT:-out}
export HF_HUB_OFFLINE=1
mkdir -p "$OUT"

echo "== 1. fetch: 46 real labels from data/spl into $DB"
adme fetch --from data/spl --db "$DB"

echo "== 2. split: stratified 85/15, copies of one text kept on one side"
# No --replace: on a rerun the stored split (same parameters) is kept, so the labels step 5
# stored from data/new never enter it and a second run reports the same numbers.
adme split natural --db "$DB"

echo "== 3. pretrain: WordPiece + small BERT by masked-language modelling on the corpus"
[ -f models/adme-bert-small/config.json ] ||
  adme pretrain --db "$DB" --output models/adme-bert-small --epochs 8 --exclude-split natural

echo "== 4. train: the TF-IDF baseline, then two-stage fine-tuning (LDAM on the top layer, then all)"
# The sample is small (about 200 training paragraphs) and the model is pre-trained on it alone,
# so this uses higher learning rates and more epochs than the paper's bert-base settings.
adme train --method tfidf --split natural --model models/adme-bert-small --db "$DB" \
  --output models/adme-tfidf
adme train --two-stage --split natural --model models/adme-bert-small --db "$DB" \
  --output models/adme-two-stage --stage1-epochs 3 --stage1-lr 1e-3 --epochs 10 --lr 5e-4

echo "== 5. label: classify the held-back labels in data/new"
adme label data/new --model models/adme-two-stage --db "$DB"

echo "== 6. report and plot"
adme report runs_summary --db "$DB"
adme report adme_by_drug --db "$DB"
adme report review_queue --db "$DB" --param threshold=0.6 --format csv --output "$OUT/review_queue.csv"
adme plot per-class-f1 --db "$DB" --output "$OUT/per-class-f1.png"
adme plot confusion --db "$DB" --output "$OUT/confusion.png"
echo "done: $DB, models/adme-two-stage, $OUT/ (plots and the review queue)"
