-- `adme split --reviews`: every paragraph with a rule label or a reviewed label, in a fixed
-- order (internal query). The reviewed label in force (newest answer not retracted, among
-- review rows up to $through, so a split rebuilt from its params sees the same reviews)
-- overrides the rule label and labels paragraphs the rule left without one. A review holds
-- for every copy of its text.
-- param: through
WITH answers AS (
    SELECT * FROM reviews WHERE review_id <= $through
),
in_force AS (
    SELECT text_hash, label
    FROM answers
    WHERE label IS NOT NULL
      AND review_id NOT IN (SELECT retracts FROM answers WHERE retracts IS NOT NULL)
    QUALIFY row_number() OVER (PARTITION BY text_hash ORDER BY review_id DESC) = 1
)
SELECT
    p.paragraph_id,
    p.text_hash,
    coalesce(r.label, p.rule_label) AS label,
    p.rule_label,
    r.label                         AS review_label
FROM paragraphs p
LEFT JOIN in_force r USING (text_hash)
WHERE p.rule_label IS NOT NULL OR r.label IS NOT NULL
ORDER BY p.paragraph_id;
