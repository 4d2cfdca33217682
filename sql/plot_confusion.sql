-- One run's test confusion matrix as (true_label, pred_label, n) rows (adme plot confusion).
-- kind: report
-- param: run_id
-- duckdb CLI:
--   duckdb data/adme.duckdb -c "PREPARE q AS $(cat sql/plot_confusion.sql) EXECUTE q(run_id := 'RUN');"
SELECT true_label, pred_label, sum(n)::INTEGER AS n
FROM confusion
WHERE run_id = $run_id AND part = 'test'
GROUP BY true_label, pred_label
ORDER BY true_label, pred_label;
