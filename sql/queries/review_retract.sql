-- Append a row undoing answer $review_id: same paragraph and text, no label (internal query).
-- param: review_id
-- param: reviewer
-- param: source
INSERT INTO reviews (paragraph_id, text_hash, label, reviewer, note, source, retracts)
SELECT paragraph_id, text_hash, NULL, $reviewer, 'undo', $source, review_id
FROM reviews
WHERE review_id = $review_id
RETURNING review_id;
