-- Each model folder's newest `adme evaluate` score on each thing it was scored on (a gold file, a split's test part), best first.
-- kind: report
-- One row per model folder and target, from its newest evaluate run: evaluating a folder again
-- replaces its row, so a second quick start prints the same table. The F1 columns are of the
-- target's paragraphs; a class the target does not hold has no F1 (NULL).
-- duckdb CLI: duckdb data/adme.duckdb < sql/model_scores.sql
WITH newest AS (
    SELECT * FROM runs
    WHERE evaluated_on IS NOT NULL
    QUALIFY row_number() OVER (
        PARTITION BY output, evaluated_on
        ORDER BY coalesce(finished, started) DESC NULLS LAST, run_id DESC
    ) = 1
),
scores AS (
    SELECT r.evaluated_on, r.output, r.method, r.run_id,
           max(m.support) FILTER (WHERE m.class = 'micro')                  AS paragraphs,
           max(m.f1) FILTER (WHERE m.class = 'micro')                       AS micro_f1,
           max(m.f1) FILTER (WHERE m.class = 'macro')                       AS macro_f1,
           max(m.f1) FILTER (WHERE m.class = 'absorption' AND m.support > 0)   AS absorption,
           max(m.f1) FILTER (WHERE m.class = 'distribution' AND m.support > 0) AS distribution,
           max(m.f1) FILTER (WHERE m.class = 'metabolism' AND m.support > 0)   AS metabolism,
           max(m.f1) FILTER (WHERE m.class = 'excretion' AND m.support > 0)    AS excretion,
           max(m.f1) FILTER (WHERE m.class = 'other' AND m.support > 0)        AS other
    FROM newest r
    JOIN metrics m ON m.run_id = r.run_id AND m.part = 'test'
    GROUP BY r.evaluated_on, r.output, r.method, r.run_id
)
SELECT
    evaluated_on          AS scored_on,
    output                AS model,
    method,
    paragraphs,
    round(micro_f1, 3)    AS micro_f1,
    round(macro_f1, 3)    AS macro_f1,
    round(absorption, 2)  AS absorption,
    round(distribution, 2) AS distribution,
    round(metabolism, 2)  AS metabolism,
    round(excretion, 2)   AS excretion,
    round(other, 2)       AS other
FROM scores
ORDER BY scored_on, macro_f1 DESC, model;
