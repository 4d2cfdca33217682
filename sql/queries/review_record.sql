-- Append one reviewer answer for a stored paragraph's text (internal query, adme.reviews).
-- No row when the paragraph does not exist; otherwise the new review_id.
-- param: paragraph_id
-- param: label
-- param: reviewer
-- param: note = null
-- param: source
INSERT INTO reviews (paragraph_id, text_hash, label, reviewer, note, source)
SELECT paragraph_id, text_hash, $label, $reviewer, $note, $source
FROM paragraphs
WHERE paragraph_id = $paragraph_id
RETURNING review_id;
