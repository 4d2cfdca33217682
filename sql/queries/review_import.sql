-- adme review import: append the matched rows of a review file from the registered table
-- `incoming_reviews`, in file order, so a later line gets a later review_id (internal query).
INSERT INTO reviews (paragraph_id, text_hash, label, reviewer, note, source)
SELECT paragraph_id, text_hash, label, reviewer, note, source
FROM incoming_reviews
ORDER BY ordinal;
