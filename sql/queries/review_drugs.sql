-- adme serve review page: every label's latest version with its paragraphs and how many of
-- them carry a review (internal query).
SELECT
    d.set_id,
    d.title,
    count(*)       AS paragraphs,
    count(r.label) AS reviewed
FROM latest_documents d
JOIN paragraphs p USING (document_id)
LEFT JOIN current_reviews r USING (text_hash)
GROUP BY d.set_id, d.title
ORDER BY lower(d.title), d.set_id;
