-- Copy one part file, ATTACHed read-only as `adme_part`, into the main database (adme merge).
-- Run step by step (each `-- step: NAME` up to the next) inside one transaction per part.
-- Idempotent: a document already stored (same document_id, or same set_id + version) is
-- skipped with its paragraphs; predictions by (paragraph_id, model_id); rejects by
-- (source, reason). Splits, runs and metrics are per-experiment and are not merged.

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

-- step: cleanup
DROP TABLE IF EXISTS merge_new_documents;
