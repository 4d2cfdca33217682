-- One model's predictions as (label, confidence) rows (adme plot confidence).
-- kind: report
-- param: model_id
-- duckdb CLI:
--   duckdb data/adme.duckdb -c "PREPARE q AS $(cat sql/plot_confidence.sql) EXECUTE q(model_id := 'M@hash');"
SELECT label, confidence
FROM predictions
WHERE model_id = $model_id
ORDER BY label, confidence;
