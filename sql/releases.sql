-- Release and update files applied (adme fetch --release / --updates): how current the database is.
-- kind: report
-- duckdb CLI: duckdb data/adme.duckdb < sql/releases.sql
SELECT
    name,
    kind,
    published,
    round(size / 1e6, 1)  AS size_mb,
    documents_added       AS added,
    documents_skipped     AS skipped,
    documents_rejected    AS rejected,
    applied_at,
    left(sha256, 12)      AS sha256
FROM releases
ORDER BY published NULLS FIRST, applied_at, name;
