-- Texts for `adme pretrain --corpus sections`: every distinct line (paragraph, list or table)
-- of the labels' sections outside the pharmacokinetics section, plus the distinct paragraph
-- texts as `pretrain_texts` reads them. Ordered by hash, like pretrain_texts.
-- $exclude_split: a split whose test texts are left out (every copy, also when a line
-- elsewhere in a label repeats one); when that split is grouped (--group-by), every section of
-- its test-part documents is left out too. NULL for none.
WITH test_rows AS (
    SELECT p.text_hash, p.document_id
    FROM split_rows s
    JOIN paragraphs p USING (paragraph_id)
    WHERE s.split_name = $exclude_split AND s.part = 'test'
),
grouped AS (
    SELECT json_extract_string(params, '$.group_by') IS NOT NULL AS yes
    FROM splits
    WHERE split_name = $exclude_split
),
lines AS (
    SELECT unnest(string_split(text, chr(10))) AS text
    FROM sections
    WHERE NOT pharmacokinetics
      AND NOT (coalesce((SELECT yes FROM grouped), false)
               AND document_id IN (SELECT document_id FROM test_rows))
),
section_lines AS (
    SELECT text, sha1(lower(regexp_replace(trim(text), '\s+', ' ', 'g'))) AS text_hash
    FROM lines
    WHERE length(text) >= 20
),
paragraph_texts AS (
    SELECT text, text_hash FROM paragraphs WHERE trim(text) <> ''
)
SELECT any_value(text ORDER BY text) AS text
FROM (SELECT * FROM section_lines UNION ALL SELECT * FROM paragraph_texts)
WHERE text_hash NOT IN (SELECT text_hash FROM test_rows)
GROUP BY text_hash
ORDER BY text_hash;
