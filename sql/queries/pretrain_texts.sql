-- Distinct paragraph texts for masked-language pre-training (text only, never headings).
-- Ordered by hash so the order is fixed yet not grouped by label or drug; a limit takes a fair sample.
-- $exclude_split: a split whose test texts (every copy of them) are left out, or NULL for none,
-- so a model pre-trained here has never read the paragraphs it will be scored on.
SELECT text
FROM (
    SELECT DISTINCT text, text_hash
    FROM paragraphs
    WHERE trim(text) <> ''
      AND text_hash NOT IN (
          SELECT p.text_hash
          FROM split_rows s
          JOIN paragraphs p USING (paragraph_id)
          WHERE s.split_name = $exclude_split AND s.part = 'test'
      )
)
ORDER BY text_hash, text;
