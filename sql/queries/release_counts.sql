-- Documents and rejects recorded from one downloaded file, by their source prefix ($prefix = url || '!').
SELECT
    (SELECT count(*) FROM documents WHERE starts_with(source, $prefix)) AS added,
    (SELECT count(DISTINCT source) FROM rejects
     WHERE source = $url OR starts_with(source, $prefix))                AS rejected;
