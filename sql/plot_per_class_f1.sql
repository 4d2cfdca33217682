-- Per-class test F1 per split version and method: mean over distinct seeds and standard error (adme plot per-class-f1).
-- kind: report
-- param: runs = null
-- $runs: comma-separated run ids and/or split names; NULL takes every run. Runs are grouped by
-- the split's content identity (split_id), never by its name alone; a seed trained twice counts
-- once (its newest run); f1_se is NULL below two seeds (no error bar from one seed). duckdb CLI:
--   duckdb data/adme.duckdb -c "PREPARE q AS $(cat sql/plot_per_class_f1.sql) EXECUTE q(runs := NULL);"
WITH chosen AS (
    SELECT r.run_id, r.split, r.split_id, r.method, r.seed
    FROM runs r
    WHERE $runs IS NULL
       OR list_contains(string_split($runs, ','), r.run_id)
       OR list_contains(string_split($runs, ','), r.split)
    QUALIFY row_number() OVER (
        PARTITION BY r.split, r.split_id, r.method, r.seed
        ORDER BY coalesce(r.finished, r.started) DESC NULLS LAST, r.run_id DESC
    ) = 1
)
SELECT
    c.split,
    c.split_id,
    c.method,
    m.class,
    count(DISTINCT c.seed)                     AS seeds,
    avg(m.f1)                                  AS f1,
    stddev_samp(m.f1) / sqrt(count(*))         AS f1_se,
    avg(m.support)                             AS support
FROM chosen c
JOIN metrics m ON m.run_id = c.run_id
WHERE m.part = 'test'
  AND m.class NOT IN ('micro', 'macro')
GROUP BY c.split, c.split_id, c.method, m.class
ORDER BY c.split, c.split_id NULLS LAST, c.method, m.class;
