-- Text of the paragraphs listed in the registered table `wanted_paragraphs` (adme label reads
-- paragraphs a chunk at a time so memory stays bounded on a whole release).
SELECT p.paragraph_id, p.text
FROM paragraphs p
WHERE p.paragraph_id IN (SELECT paragraph_id FROM wanted_paragraphs);
