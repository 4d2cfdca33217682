-- The newest review_id recorded (NULL when there is none): where `adme split --reviews` stops
-- reading reviews, stored in the split's params (internal query).
SELECT max(review_id) AS through FROM reviews;
