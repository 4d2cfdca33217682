-- Per active ingredient (latest version of each label): labels, their names, and counts of A/D/M/E/Other by the rule and by each model.
-- kind: report
-- A label naming no products is grouped under its display name.
-- duckdb CLI: duckdb data/adme.duckdb < sql/adme_by_drug.sql
WITH latest_paragraphs AS (
    SELECT p.paragraph_id, p.set_id, p.rule_label,
           coalesce(n.active_ingredients, n.display_name) AS active_ingredients
    FROM latest_documents d
    JOIN document_names n USING (document_id)
    JOIN paragraphs p ON p.document_id = d.document_id
),
names AS (
    SELECT coalesce(n.active_ingredients, n.display_name) AS active_ingredients,
           count(*)                                        AS labels,
           string_agg(DISTINCT n.display_name, '; ' ORDER BY n.display_name) AS names
    FROM latest_documents d
    JOIN document_names n USING (document_id)
    GROUP BY ALL
),
labelled AS (
    SELECT active_ingredients, 'rule' AS labelled_by, rule_label AS label
    FROM latest_paragraphs
    UNION ALL
    SELECT lp.active_ingredients, pr.model_id AS labelled_by, pr.label
    FROM latest_paragraphs lp
    JOIN predictions pr USING (paragraph_id)
)
SELECT
    l.active_ingredients,
    any_value(n.labels)                            AS labels,
    l.labelled_by,
    count(*) FILTER (WHERE label = 'absorption')   AS absorption,
    count(*) FILTER (WHERE label = 'distribution') AS distribution,
    count(*) FILTER (WHERE label = 'metabolism')   AS metabolism,
    count(*) FILTER (WHERE label = 'excretion')    AS excretion,
    count(*) FILTER (WHERE label = 'other')        AS other,
    count(*) FILTER (WHERE label = 'adme')         AS adme,
    count(*) FILTER (WHERE label IS NULL)          AS unlabelled,
    count(*)                                       AS total,
    any_value(n.names)                             AS names
FROM labelled l
JOIN names n USING (active_ingredients)
GROUP BY l.active_ingredients, l.labelled_by
ORDER BY l.active_ingredients, l.labelled_by = 'rule' DESC, l.labelled_by;
