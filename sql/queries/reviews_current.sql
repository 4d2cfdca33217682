-- adme review export: the review in force for each reviewed text, with the paragraph it was
-- given on and that paragraph's text (internal query).
SELECT
    c.review_id,
    c.paragraph_id,
    c.text_hash,
    c.label,
    c.reviewer,
    c.note,
    c.source,
    CAST(c.created_at AS VARCHAR) AS created_at,
    p.text
FROM current_reviews c
LEFT JOIN paragraphs p USING (paragraph_id)
ORDER BY c.review_id;
