-- Rows of one split with the paragraph text the model reads (adme train). Parameter: $split.
-- Only `text` is selected: the heading or title that gave the rule label must never reach the
-- model, or the task is trivial and the scores lie.
SELECT r.paragraph_id, r.part, r.label, p.text
FROM split_rows AS r
JOIN paragraphs AS p USING (paragraph_id)
WHERE r.split_name = $split
ORDER BY r.part, r.paragraph_id;
