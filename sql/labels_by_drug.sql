-- Per set_id (latest version): its name, active ingredients, category and paragraph count per rule label.
-- kind: report
-- duckdb CLI: duckdb data/adme.duckdb < sql/labels_by_drug.sql
SELECT
    d.set_id,
    d.version,
    n.display_name,
    n.active_ingredients,
    n.marketing_category,
    count(p.paragraph_id) FILTER (WHERE p.rule_label = 'absorption')   AS absorption,
    count(p.paragraph_id) FILTER (WHERE p.rule_label = 'distribution') AS distribution,
    count(p.paragraph_id) FILTER (WHERE p.rule_label = 'metabolism')   AS metabolism,
    count(p.paragraph_id) FILTER (WHERE p.rule_label = 'excretion')    AS excretion,
    count(p.paragraph_id) FILTER (WHERE p.rule_label = 'other')        AS other,
    count(p.paragraph_id) FILTER (WHERE p.rule_label IS NULL)          AS unlabelled,
    count(p.paragraph_id)                                              AS total
FROM latest_documents d
JOIN document_names n USING (document_id)
LEFT JOIN paragraphs p ON p.document_id = d.document_id
GROUP BY d.set_id, d.version, n.display_name, n.active_ingredients, n.marketing_category
ORDER BY n.active_ingredients NULLS LAST, n.display_name, d.set_id;
