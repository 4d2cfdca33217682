-- One review row and whether a later row already retracts it (internal query, adme.reviews).
-- param: review_id
SELECT
    r.paragraph_id,
    r.text_hash,
    r.label,
    EXISTS (SELECT 1 FROM reviews u WHERE u.retracts = r.review_id) AS retracted
FROM reviews r
WHERE r.review_id = $review_id;
