-- Two models' agreement per class on the paragraphs both labelled (Jaccard of their choices).
-- kind: report
-- param: model_a
-- param: model_b
-- duckdb CLI:
--   duckdb data/adme.duckdb -c "PREPARE q AS $(cat sql/model_compare.sql) EXECUTE q(model_a := 'A@hash', model_b := 'B@hash');"
WITH known AS (  -- an id with no predictions is a mistake, not a row of zeros
    SELECT CASE
        WHEN $model_a NOT IN (SELECT model_id FROM predictions)
          OR $model_b NOT IN (SELECT model_id FROM predictions)
        THEN error('unknown model id ' || (CASE WHEN $model_a NOT IN (SELECT model_id FROM predictions)
                                                THEN $model_a ELSE $model_b END)
                   || '; models with predictions: '
                   || coalesce((SELECT string_agg(DISTINCT model_id, ', ' ORDER BY model_id)
                                FROM predictions), 'none'))
    END AS ok
),
pairs AS (
    SELECT a.paragraph_id, a.label AS label_a, b.label AS label_b
    FROM predictions a
    JOIN predictions b ON b.paragraph_id = a.paragraph_id
    CROSS JOIN known
    WHERE a.model_id = $model_a AND b.model_id = $model_b AND known.ok IS NULL
),
classes AS (
    SELECT label_a AS class FROM pairs UNION SELECT label_b FROM pairs
),
per_class AS (
    SELECT
        c.class,
        count(*) FILTER (WHERE p.label_a = c.class)                      AS by_a,
        count(*) FILTER (WHERE p.label_b = c.class)                      AS by_b,
        count(*) FILTER (WHERE p.label_a = c.class AND p.label_b = c.class) AS by_both,
        count(*) FILTER (WHERE p.label_a = c.class OR p.label_b = c.class)  AS by_either
    FROM classes c CROSS JOIN pairs p
    GROUP BY c.class
)
SELECT class, by_a, by_b, by_both,
       round(100.0 * by_both / nullif(by_either, 0), 1) AS agreement_pct
FROM (
    SELECT class, by_a, by_b, by_both, by_either, 0 AS sort_key FROM per_class
    UNION ALL
    SELECT '(all)', count(*), count(*), count(*) FILTER (WHERE label_a = label_b), count(*), 1
    FROM pairs
)
ORDER BY sort_key, class;
