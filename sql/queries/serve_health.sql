-- adme serve GET /health: how much the database holds (internal query, not a report).
SELECT
    (SELECT count(*) FROM latest_documents) AS documents,
    (SELECT count(*) FROM paragraphs)       AS paragraphs;
