-- adme evaluate --on reviews: each reviewed text with the label in force, the text as the
-- reviewer saw it, and every stored paragraph holding exactly that text (internal query).
SELECT
    c.text_hash,
    c.label,
    c.reviewer,
    seen.text,
    list(p.paragraph_id ORDER BY p.paragraph_id) FILTER (WHERE p.text = seen.text)
        AS paragraph_ids
FROM current_reviews c
JOIN paragraphs seen ON seen.paragraph_id = c.paragraph_id
JOIN paragraphs p ON p.text_hash = c.text_hash
GROUP BY c.text_hash, c.label, c.reviewer, seen.text
ORDER BY c.text_hash;
