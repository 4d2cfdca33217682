-- adme review import: find the stored paragraph each incoming review row names (internal query).
-- Reads the registered table `review_keys(line, paragraph_id, text_hash, normalised_hash)`;
-- a row matches by paragraph id first, then by its text hash, then by the hash of its text
-- (lower-cased, whitespace-normalised, as adme stores it). paragraph_id is NULL when nothing
-- matched; copies counts the stored paragraphs holding that text (all reviewed at once).
WITH texts AS (
    SELECT text_hash, min(paragraph_id) AS paragraph_id, count(*) AS copies
    FROM paragraphs
    GROUP BY text_hash
)
SELECT
    k.line,
    coalesce(by_id.paragraph_id, by_hash.paragraph_id, by_text.paragraph_id) AS paragraph_id,
    coalesce(by_id.text_hash, by_hash.text_hash, by_text.text_hash)          AS text_hash,
    coalesce(id_copies.copies, by_hash.copies, by_text.copies)               AS copies
FROM review_keys k
LEFT JOIN paragraphs by_id ON by_id.paragraph_id = k.paragraph_id
LEFT JOIN texts id_copies ON id_copies.text_hash = by_id.text_hash
LEFT JOIN texts by_hash ON by_hash.text_hash = k.text_hash
LEFT JOIN texts by_text ON by_text.text_hash = k.normalised_hash
ORDER BY k.line;
