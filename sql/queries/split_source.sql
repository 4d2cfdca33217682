-- Paragraphs with a rule label, the raw material of `adme split`, in a fixed order.
SELECT paragraph_id, text_hash, rule_label
FROM paragraphs
WHERE rule_label IS NOT NULL
ORDER BY paragraph_id;
