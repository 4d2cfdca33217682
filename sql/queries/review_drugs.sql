-- adme serve review page: every label's latest version, by its human name, with its
-- paragraphs and how many of them carry a review (internal query).
SELECT
    d.set_id,
    n.display_name AS title,
    count(*)       AS paragraphs,
    count(r.label) AS reviewed
FROM latest_documents d
JOIN document_names n USING (document_id)
JOIN paragraphs p USING (document_id)
LEFT JOIN current_reviews r USING (text_hash)
WHERE p.bare_heading IS NOT TRUE  -- as the drug queue: bare headings are not counted
GROUP BY d.set_id, n.display_name
ORDER BY lower(n.display_name), d.set_id;
