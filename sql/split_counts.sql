-- Paragraphs per split, part and class (adme split prints the same counts for one split).
-- kind: report
SELECT s.split_name, r.part, r.label, count(*) AS paragraphs
FROM split_rows AS r
JOIN splits AS s USING (split_name)
GROUP BY s.split_name, r.part, r.label, s.classes
ORDER BY s.split_name, r.part, list_position(s.classes, r.label);
