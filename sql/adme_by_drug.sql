-- Per set_id (latest version): counts of A/D/M/E/Other by the rule and by each model.
-- kind: report
-- duckdb CLI: duckdb data/adme.duckdb < sql/adme_by_drug.sql
WITH latest_paragraphs AS (
    SELECT p.*, d.title
    FROM latest_documents d
    JOIN paragraphs p ON p.document_id = d.document_id
),
labelled AS (
    SELECT set_id, title, 'rule' AS labelled_by, rule_label AS label
    FROM latest_paragraphs
    UNION ALL
    SELECT lp.set_id, lp.title, pr.model_id AS labelled_by, pr.label
    FROM latest_paragraphs lp
    JOIN predictions pr USING (paragraph_id)
)
SELECT
    set_id,
    title,
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
GROUP BY set_id, title, labelled_by
ORDER BY title, set_id, labelled_by = 'rule' DESC, labelled_by;
