-- Stored paragraphs whose text_hash is in the registered table `wanted_hashes` (adme evaluate
-- finds the paragraphs a gold file's texts are, to store its predictions for them).
SELECT p.paragraph_id, p.text
FROM paragraphs p
WHERE p.text_hash IN (SELECT text_hash FROM wanted_hashes)
ORDER BY p.paragraph_id;
