-- Stored documents an ingest or `adme fetch --reparse` parses again to fill in what they lack:
-- those stored before adme read products, and (with $sections) those stored without sections.
-- param: sections (boolean)
SELECT document_id, set_id, sha256, coalesce(source, '') AS source
FROM documents
WHERE products_found IS NULL OR ($sections AND sections_found IS NULL)
ORDER BY document_id;
