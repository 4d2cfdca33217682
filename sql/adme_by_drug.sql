-- Per active ingredient (latest version of each label): labels, their names, and counts of A/D/M/E/Other by the rule and by each model.
-- kind: report
-- A label naming no products is grouped under its display name.
-- duckdb CLI: duckdb data/adme.duckdb < sql/adme_by_drug.sql
-- Names are worked out once and paragraphs counted by a small number per drug: on 40,000
-- labels this halved the time of grouping every paragraph and prediction by name strings.
WITH latest AS MATERIALIZED (  -- names worked out once (the view is the costly part)
    SELECT d.document_id, n.display_name,
           coalesce(n.active_ingredients, n.display_name) AS active_ingredients
    FROM latest_documents d
    JOIN document_names n USING (document_id)
),
drugs AS MATERIALIZED (  -- one small number per drug: the paragraphs are counted by it
    SELECT row_number() OVER (ORDER BY active_ingredients) AS drug, active_ingredients,
           count(*)                                                        AS labels,
           string_agg(DISTINCT display_name, '; ' ORDER BY display_name) AS names
    FROM latest
    GROUP BY active_ingredients
),
latest_paragraphs AS MATERIALIZED (
    SELECT p.paragraph_id, p.rule_label, g.drug
    FROM latest l
    JOIN drugs g USING (active_ingredients)
    JOIN paragraphs p USING (document_id)
),
labelled AS (
    SELECT drug, 'rule' AS labelled_by, rule_label AS label
    FROM latest_paragraphs
    UNION ALL
    SELECT lp.drug, pr.model_id AS labelled_by, pr.label
    FROM latest_paragraphs lp
    JOIN predictions pr USING (paragraph_id)
),
counts AS (
    SELECT
        drug,
        labelled_by,
        count(*) FILTER (WHERE label = 'absorption')   AS absorption,
        count(*) FILTER (WHERE label = 'distribution') AS distribution,
        count(*) FILTER (WHERE label = 'metabolism')   AS metabolism,
        count(*) FILTER (WHERE label = 'excretion')    AS excretion,
        count(*) FILTER (WHERE label = 'other')        AS other,
        count(*) FILTER (WHERE label = 'adme')         AS adme,
        count(*) FILTER (WHERE label IS NULL)          AS unlabelled,
        count(*)                                       AS total
    FROM labelled
    GROUP BY drug, labelled_by
)
SELECT
    g.active_ingredients, g.labels, c.labelled_by,
    c.absorption, c.distribution, c.metabolism, c.excretion, c.other, c.adme, c.unlabelled,
    c.total, g.names
FROM counts c
JOIN drugs g USING (drug)
ORDER BY g.active_ingredients, c.labelled_by = 'rule' DESC, c.labelled_by;
