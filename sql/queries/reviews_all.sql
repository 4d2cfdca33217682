-- adme review export --all: every review row ever recorded, retractions included, in recording
-- order: the audit trail (internal query).
SELECT
    r.review_id,
    r.paragraph_id,
    r.text_hash,
    r.label,
    r.reviewer,
    r.note,
    r.source,
    r.retracts,
    CAST(r.created_at AS VARCHAR) AS created_at,
    p.text
FROM reviews r
LEFT JOIN paragraphs p USING (paragraph_id)
ORDER BY r.review_id;
