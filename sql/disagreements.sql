-- Paragraphs whose rule label and model label differ, most confident model first.
-- kind: report
-- param: model_id = null
-- A binary model's 'adme' agrees with any of absorption/distribution/metabolism/excretion.
-- A paragraph that is only a heading ("Absorption" written as a paragraph) is left out.
-- duckdb CLI (model_id NULL = every model):
--   duckdb data/adme.duckdb -c "PREPARE q AS $(cat sql/disagreements.sql) EXECUTE q(model_id := NULL);"
-- Two steps, for speed on a large file: the differing (paragraph, model) pairs are found from
-- ids and labels alone, then only their paragraphs' text and names are read (by rowid):
-- joining the text of every labelled paragraph first took twice the time on 40,000 labels.
WITH differing AS MATERIALIZED (
    SELECT p.rowid AS paragraph_row, pr.model_id, pr.label AS model_label, pr.confidence
    FROM predictions pr
    JOIN paragraphs p USING (paragraph_id)
    WHERE p.rule_label IS NOT NULL
      AND pr.label <> p.rule_label
      AND NOT (pr.label = 'adme'
               AND p.rule_label IN ('absorption', 'distribution', 'metabolism', 'excretion'))
      AND p.bare_heading IS NOT TRUE  -- a bare heading ("Absorption") has nothing to label
      AND ($model_id IS NULL OR pr.model_id = $model_id)
)
SELECT
    d.model_id,
    p.paragraph_id,
    p.set_id,
    n.display_name,
    p.section_path,
    p.heading,
    p.rule_label,
    d.model_label,
    round(d.confidence, 4)       AS confidence,
    left(p.text, 100)            AS text_preview
FROM differing d
JOIN paragraphs p ON p.rowid = d.paragraph_row
JOIN document_names n USING (document_id)
ORDER BY d.confidence DESC, p.paragraph_id, d.model_id;
