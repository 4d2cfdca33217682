-- Paragraphs the rule could not label (no or ambiguous heading): where they are and how they start.
-- kind: report
-- duckdb CLI: duckdb data/adme.duckdb < sql/unlabelled.sql
SELECT
    p.paragraph_id,
    p.set_id,
    p.version,
    n.display_name,
    p.section_path,
    p.kind,
    p.rule_reason,
    left(p.text, 100) AS text_preview
FROM paragraphs p
JOIN document_names n USING (document_id)
WHERE p.rule_label IS NULL
ORDER BY n.display_name, p.set_id, p.version, p.ordinal;
