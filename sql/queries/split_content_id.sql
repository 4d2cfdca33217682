-- A split's content identity (adme split): the first 16 hex of sha256 over its sorted
-- (paragraph text_hash or id, part, label) rows. The same expression migrates old splits in
-- schema.sql. Parameter: $split.
SELECT left(sha256(coalesce(string_agg(row_key, chr(10) ORDER BY row_key), '')), 16)
FROM (SELECT coalesce(p.text_hash, r.paragraph_id) || ' ' || r.part || ' ' || r.label AS row_key
      FROM split_rows r LEFT JOIN paragraphs p USING (paragraph_id)
      WHERE r.split_name = $split);
