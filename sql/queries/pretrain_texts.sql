-- Distinct paragraph texts for masked-language pre-training (text only, never headings).
-- Ordered by hash so the order is fixed yet not grouped by label or drug; a limit takes a fair sample.
SELECT text
FROM (SELECT DISTINCT text, text_hash FROM paragraphs WHERE trim(text) <> '')
ORDER BY text_hash, text;
