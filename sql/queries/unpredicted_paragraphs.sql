-- Paragraphs adme label must classify with one model: those it never predicted (all, to relabel),
-- in the documents listed in the registered table `selected_documents`, or everywhere.
-- param: model_id, relabel (boolean), all_documents (boolean)
SELECT p.paragraph_id
FROM paragraphs p
WHERE ($all_documents OR p.document_id IN (SELECT document_id FROM selected_documents))
  AND ($relabel OR NOT EXISTS (
        SELECT 1 FROM predictions r
        WHERE r.paragraph_id = p.paragraph_id AND r.model_id = $model_id))
ORDER BY p.paragraph_id;
