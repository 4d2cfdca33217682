-- Test scores per split version, method and base model: mean micro/macro F1 over distinct seeds, with standard error.
-- kind: report
-- A split name rebuilt on other paragraphs is another experiment: rows are per split_id (its
-- content identity; NULL for runs an older adme recorded before the split was rebuilt). A seed
-- trained twice counts once (its newest run); the standard error needs two seeds or more.
-- duckdb CLI: duckdb data/adme.duckdb < sql/runs_summary.sql
WITH newest AS (
    SELECT * FROM runs
    QUALIFY row_number() OVER (
        PARTITION BY split, split_id, method, model, seed
        ORDER BY coalesce(finished, started) DESC NULLS LAST, run_id DESC
    ) = 1
),
scores AS (
    SELECT r.split, r.split_id, r.method, r.model, r.run_id, r.seed,
           max(m.f1) FILTER (WHERE m.class = 'micro') AS micro_f1,
           max(m.f1) FILTER (WHERE m.class = 'macro') AS macro_f1
    FROM newest r
    JOIN metrics m ON m.run_id = r.run_id AND m.part = 'test'
    GROUP BY r.split, r.split_id, r.method, r.model, r.run_id, r.seed
)
SELECT
    split,
    method,
    model,
    count(DISTINCT seed)                                      AS seeds,
    round(avg(micro_f1), 4)                                   AS micro_f1,
    round(stddev_samp(micro_f1) / sqrt(count(*)), 4)          AS micro_f1_se,
    round(avg(macro_f1), 4)                                   AS macro_f1,
    round(stddev_samp(macro_f1) / sqrt(count(*)), 4)          AS macro_f1_se,
    split_id
FROM scores
GROUP BY split, split_id, method, model
ORDER BY split, split_id NULLS LAST, macro_f1 DESC, method;
