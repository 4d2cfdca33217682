-- Test F1 of an imbalance sweep per imbalance value, method and class (micro, macro, each class): mean and standard error over seeds.
-- kind: report
-- param: sweep
-- $sweep: the sweep's name (adme sweep NAME). f1_se is NULL for a single seed. duckdb CLI:
--   duckdb data/adme.duckdb -c "PREPARE q AS $(cat sql/sweep_summary.sql) EXECUTE q(sweep := 'NAME');"
WITH cells AS (
    SELECT
        r.run_id,
        r.method,
        w.axis,
        CAST(CASE w.axis
                 WHEN 'ratio' THEN s.params ->> 'ratio'
                 WHEN 'step' THEN s.params ->> 'fraction'
                 ELSE s.params ->> 'mu'
             END AS DOUBLE) AS imbalance
    FROM runs r
    JOIN sweeps w ON w.sweep_name = r.sweep
    JOIN splits s ON s.split_name = r.split
    WHERE r.sweep = $sweep
)
SELECT
    c.axis,
    c.imbalance,
    c.method,
    m.class,
    count(*)                                                           AS seeds,
    round(avg(m.f1), 4)                                                AS f1,
    round(CASE WHEN count(*) > 1 THEN stddev_samp(m.f1) / sqrt(count(*)) END, 4) AS f1_se
FROM cells c
JOIN metrics m ON m.run_id = c.run_id AND m.part = 'test'
GROUP BY c.axis, c.imbalance, c.method, m.class
ORDER BY c.imbalance DESC, c.method, m.class;
