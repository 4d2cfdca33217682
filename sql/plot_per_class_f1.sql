-- Per-class test F1 per split and method: mean over seeds and standard error (adme plot per-class-f1).
-- kind: report
-- param: runs = null
-- $runs: comma-separated run ids and/or split names; NULL takes every run. duckdb CLI:
--   duckdb data/adme.duckdb -c "PREPARE q AS $(cat sql/plot_per_class_f1.sql) EXECUTE q(runs := NULL);"
SELECT
    r.split,
    r.method,
    m.class,
    count(*)                                   AS seeds,
    avg(m.f1)                                  AS f1,
    coalesce(stddev_samp(m.f1) / sqrt(count(*)), 0) AS f1_se,
    avg(m.support)                             AS support
FROM runs r
JOIN metrics m ON m.run_id = r.run_id
WHERE m.part = 'test'
  AND m.class NOT IN ('micro', 'macro')
  AND ($runs IS NULL
       OR list_contains(string_split($runs, ','), r.run_id)
       OR list_contains(string_split($runs, ','), r.split))
GROUP BY r.split, r.method, m.class
ORDER BY r.split, r.method, m.class;
