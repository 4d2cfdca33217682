-- Paragraphs with no rule label whose model confidence is below a threshold: least sure first.
-- A paragraph that is only a heading ("Absorption" written as a paragraph) is left out.
-- kind: report
-- param: threshold = 0.6
-- param: model_id = null
-- duckdb CLI (model_id NULL = every model):
--   duckdb data/adme.duckdb -c "PREPARE q AS $(cat sql/review_queue.sql) EXECUTE q(threshold := 0.6, model_id := NULL);"
SELECT
    pr.model_id,
    p.paragraph_id,
    p.set_id,
    n.display_name,
    p.section_path,
    pr.label                     AS model_label,
    round(pr.confidence, 4)      AS confidence,
    left(p.text, 100)            AS text_preview
FROM paragraphs p
JOIN document_names n USING (document_id)
JOIN predictions pr USING (paragraph_id)
WHERE p.rule_label IS NULL
  AND p.bare_heading IS NOT TRUE  -- a bare heading ("Absorption") has nothing to label
  AND pr.confidence < $threshold
  AND ($model_id IS NULL OR pr.model_id = $model_id)
ORDER BY pr.confidence, p.paragraph_id, pr.model_id;
