-- Store a chunk of predictions (the registered table `incoming_predictions`), skipping any
-- (paragraph, model) pair already stored, so a resumed or repeated run adds no duplicates.
INSERT INTO predictions BY NAME
SELECT i.paragraph_id, i.model_id, i.label, i.confidence, i.probs
FROM incoming_predictions i
WHERE NOT EXISTS (
    SELECT 1 FROM predictions p
    WHERE p.paragraph_id = i.paragraph_id AND p.model_id = i.model_id);
