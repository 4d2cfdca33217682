-- Paragraphs per part and label of one split (adme plot class-balance --split).
-- kind: report
-- param: split
-- duckdb CLI:
--   duckdb data/adme.duckdb -c "PREPARE q AS $(cat sql/plot_split_balance.sql) EXECUTE q(split := 'NAME');"
SELECT part, label, count(*) AS paragraphs
FROM split_rows
WHERE split_name = $split
GROUP BY part, label
ORDER BY part, label;
