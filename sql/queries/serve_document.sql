-- adme serve GET /documents/{set_id}: the latest version's paragraphs with rule labels and the
-- predictions of one model (internal query, not a report). One row with NULL paragraph columns
-- for a label without pharmacokinetics paragraphs; no row for an unknown set_id.
-- param: set_id
-- param: model_id
SELECT
    d.set_id,
    d.document_id,
    d.version,
    d.title,
    n.display_name,
    CAST(d.effective_date AS VARCHAR) AS effective_date,
    p.paragraph_id,
    p.ordinal,
    p.section_path,
    p.heading,
    p.text,
    p.kind,
    p.rule_label,
    p.rule_reason,
    pr.label       AS predicted_label,
    pr.confidence  AS predicted_confidence,
    pr.probs       AS predicted_probs
FROM latest_documents d
JOIN document_names n ON n.document_id = d.document_id
LEFT JOIN paragraphs p ON p.document_id = d.document_id
LEFT JOIN predictions pr ON pr.paragraph_id = p.paragraph_id AND pr.model_id = $model_id
WHERE d.set_id = $set_id
ORDER BY p.ordinal;
