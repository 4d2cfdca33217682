-- Copy one part file, ATTACHed read-only as `adme_part`, into the main database (adme merge).
-- Run step by step (each `-- step: NAME` up to the next) inside one transaction per part.
-- Idempotent: a document already stored (same document_id, or same set_id + version) is
-- skipped with its paragraphs; predictions by (paragraph_id, model_id); rejects by
-- (source, reason); reviews by their content (see review_map). Splits, runs and metrics are
-- per-experiment and are not merged.

-- step: new_documents
-- The part's documents the main file does not hold yet.
CREATE OR REPLACE TEMP TABLE merge_new_documents AS
SELECT p.document_id
FROM adme_part.documents p
WHERE NOT EXISTS (SELECT 1 FROM documents d WHERE d.document_id = p.document_id)
  AND NOT EXISTS (SELECT 1 FROM documents d WHERE d.set_id = p.set_id AND d.version = p.version);

-- step: documents
INSERT INTO documents BY NAME
SELECT * FROM adme_part.documents
WHERE document_id IN (SELECT document_id FROM merge_new_documents);

-- step: paragraphs
-- Only the paragraphs of documents added above: a skipped document keeps the rows it has.
INSERT INTO paragraphs BY NAME
SELECT p.* FROM adme_part.paragraphs p
WHERE p.document_id IN (SELECT document_id FROM merge_new_documents)
  AND NOT EXISTS (SELECT 1 FROM paragraphs m WHERE m.paragraph_id = p.paragraph_id);

-- step: bare_headings
-- A part written before paragraphs.bare_heading existed leaves it NULL: fill it in.
UPDATE paragraphs SET bare_heading = heading_only(text, kind) WHERE bare_heading IS NULL;

-- step: products
-- Only when the part has the table (parts written before adme read products lack it: their
-- documents keep products_found NULL until `adme fetch --reparse`); only for added documents.
INSERT INTO products BY NAME
SELECT p.* FROM adme_part.products p
WHERE p.document_id IN (SELECT document_id FROM merge_new_documents);

-- step: ingredients
INSERT INTO ingredients BY NAME
SELECT i.* FROM adme_part.ingredients i
WHERE i.document_id IN (SELECT document_id FROM merge_new_documents);

-- step: sections
-- Only when the part has the table (parts made before adme kept sections have none).
INSERT INTO sections BY NAME
SELECT s.* FROM adme_part.sections s
WHERE s.document_id IN (SELECT document_id FROM merge_new_documents);

-- step: rejects
-- One row per (source, reason), the earliest time it was seen.
INSERT INTO rejects BY NAME
SELECT r.source, r.reason, min(r.rejected_at) AS rejected_at
FROM adme_part.rejects r
WHERE NOT EXISTS (SELECT 1 FROM rejects m WHERE m.source = r.source AND m.reason = r.reason)
GROUP BY r.source, r.reason;

-- step: predictions
-- Only when the part has the table; only for paragraphs the main file now holds.
INSERT INTO predictions BY NAME
SELECT r.paragraph_id, r.model_id, r.label, r.confidence, r.probs, r.created_at
FROM adme_part.predictions r
WHERE EXISTS (SELECT 1 FROM paragraphs m WHERE m.paragraph_id = r.paragraph_id)
  AND NOT EXISTS (SELECT 1 FROM predictions m
                  WHERE m.paragraph_id = r.paragraph_id AND m.model_id = r.model_id);

-- step: releases
-- Only when the part has the table: the release and update files each part applied.
INSERT INTO releases BY NAME
SELECT r.* FROM adme_part.releases r
WHERE NOT EXISTS (SELECT 1 FROM releases m
                  WHERE m.name = r.name AND m.size = r.size AND m.sha256 = r.sha256);

-- step: review_map
-- Only when the part has the table. Reviews are an audit trail: every row of the part is
-- carried over. Each part row with the main file's review_id when that very row is there
-- already (same paragraph, text, label, reviewer, note, source, time, answer-or-undo): a merge
-- run twice adds nothing. main_id NULL: a row to add.
CREATE OR REPLACE TEMP TABLE merge_review_map AS
SELECT
    r.review_id AS part_id,
    (SELECT min(m.review_id) FROM reviews m
     WHERE m.paragraph_id = r.paragraph_id AND m.text_hash = r.text_hash
       AND m.label IS NOT DISTINCT FROM r.label AND m.reviewer = r.reviewer
       AND m.note IS NOT DISTINCT FROM r.note AND m.source = r.source
       AND m.created_at = r.created_at
       AND (m.retracts IS NULL) = (r.retracts IS NULL)) AS main_id
FROM adme_part.reviews r;

-- step: review_ids
-- New review_ids for the rows to add, drawn from the main file's own sequence, so they follow
-- every review it holds (its ids are never rewritten: splits record them), paired with those
-- rows in the part's recording order. For a text reviewed in both files the part's answer is
-- therefore the newer one, in force after the merge; both rows stay in the trail.
CREATE OR REPLACE TEMP TABLE merge_review_ids AS
WITH fresh AS (
    SELECT part_id, row_number() OVER (ORDER BY part_id) AS k
    FROM merge_review_map
    WHERE main_id IS NULL
),
ids AS (
    SELECT id, row_number() OVER (ORDER BY id) AS k
    FROM (SELECT nextval('review_ids') AS id FROM range((SELECT count(*) FROM fresh)))
)
SELECT fresh.part_id, ids.id AS new_id
FROM fresh JOIN ids USING (k);

-- step: reviews
-- The rows to add under their new ids, created_at, reviewer and source kept as recorded; an
-- undo points at the main file's id of the answer it retracts.
INSERT INTO reviews
    (review_id, paragraph_id, text_hash, label, reviewer, note, source, retracts, created_at)
SELECT
    n.new_id, r.paragraph_id, r.text_hash, r.label, r.reviewer, r.note, r.source,
    coalesce(undone_new.new_id, undone_old.main_id) AS retracts,
    r.created_at
FROM merge_review_ids n
JOIN adme_part.reviews r ON r.review_id = n.part_id
LEFT JOIN merge_review_ids undone_new ON undone_new.part_id = r.retracts
LEFT JOIN merge_review_map undone_old ON undone_old.part_id = r.retracts
ORDER BY n.new_id;

-- step: cleanup
DROP TABLE IF EXISTS merge_new_documents;
DROP TABLE IF EXISTS merge_review_map;
DROP TABLE IF EXISTS merge_review_ids;
