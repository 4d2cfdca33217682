-- Test scores per split, method and base model: mean micro/macro F1 over seeds, with standard error.
-- kind: report
-- duckdb CLI: duckdb data/adme.duckdb < sql/runs_summary.sql
WITH scores AS (
    SELECT r.split, r.method, r.model, r.run_id, r.seed,
           max(m.f1) FILTER (WHERE m.class = 'micro') AS micro_f1,
           max(m.f1) FILTER (WHERE m.class = 'macro') AS macro_f1
    FROM runs r
    JOIN metrics m ON m.run_id = r.run_id AND m.part = 'test'
    GROUP BY r.split, r.method, r.model, r.run_id, r.seed
)
SELECT
    split,
    method,
    model,
    count(*)                                          AS seeds,
    round(avg(micro_f1), 4)                           AS micro_f1,
    round(stddev_samp(micro_f1) / sqrt(count(*)), 4)  AS micro_f1_se,
    round(avg(macro_f1), 4)                           AS macro_f1,
    round(stddev_samp(macro_f1) / sqrt(count(*)), 4)  AS macro_f1_se
FROM scores
GROUP BY split, method, model
ORDER BY split, macro_f1 DESC, method;
