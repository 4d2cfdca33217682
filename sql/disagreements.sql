-- Paragraphs whose rule label and model label differ, most confident model first.
-- kind: report
-- param: model_id = null
-- A binary model's 'adme' agrees with any of absorption/distribution/metabolism/excretion.
-- duckdb CLI (model_id NULL = every model):
--   duckdb data/adme.duckdb -c "PREPARE q AS $(cat sql/disagreements.sql) EXECUTE q(model_id := NULL);"
SELECT
    pr.model_id,
    p.paragraph_id,
    p.set_id,
    n.display_name,
    p.section_path,
    p.heading,
    p.rule_label,
    pr.label                     AS model_label,
    round(pr.confidence, 4)      AS confidence,
    left(p.text, 100)            AS text_preview
FROM paragraphs p
JOIN document_names n USING (document_id)
JOIN predictions pr USING (paragraph_id)
WHERE p.rule_label IS NOT NULL
  AND pr.label <> p.rule_label
  AND NOT heading_only(p.text, p.kind)  -- a bare heading ("Absorption") has nothing to label
  AND NOT (pr.label = 'adme'
           AND p.rule_label IN ('absorption', 'distribution', 'metabolism', 'excretion'))
  AND ($model_id IS NULL OR pr.model_id = $model_id)
ORDER BY pr.confidence DESC, p.paragraph_id, pr.model_id;
