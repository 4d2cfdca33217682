-- adme label --relabel: drop this model's stored predictions for the paragraphs of the
-- registered table `incoming_predictions`, in the same transaction that writes their new rows.
DELETE FROM predictions
USING incoming_predictions i
WHERE predictions.paragraph_id = i.paragraph_id AND predictions.model_id = i.model_id;
