-- Paragraphs per rule label (no rule label shown as 'unlabelled'), with each label's share in percent.
-- kind: report
-- duckdb CLI: duckdb data/adme.duckdb < sql/class_balance.sql
SELECT
    coalesce(rule_label, 'unlabelled')                      AS rule_label,
    count(*)                                                AS paragraphs,
    round(100.0 * count(*) / sum(count(*)) OVER (), 1)      AS share_pct
FROM paragraphs
GROUP BY ALL
ORDER BY paragraphs DESC, rule_label;
