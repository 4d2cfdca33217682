-- adme serve review page: the paragraphs of one queue, unreviewed first (internal query).
-- $queue: confidence (no rule label, the model's least confident first), disagreements (rule
-- and model differ, the model's most confident first) or drug (the latest version of $set_id,
-- in reading order). The two queues show one paragraph per text (a review covers its copies).
-- Paragraphs that are only a heading (paragraphs.bare_heading) are in no queue.
-- total / done count the whole queue; at most $limit rows come back, unreviewed ones first.
-- param: queue
-- param: model_id
-- param: set_id = null
-- param: limit = 50
WITH copies AS (
    SELECT text_hash, count(*) AS copies FROM paragraphs GROUP BY text_hash
),
candidates AS (
    SELECT
        p.paragraph_id, p.text_hash, p.set_id, n.display_name AS title, p.ordinal,
        p.section_path, p.heading,
        p.text, p.kind, p.rule_label,
        pr.label AS model_label, pr.confidence, pr.probs
    FROM paragraphs p
    JOIN document_names n USING (document_id)
    LEFT JOIN predictions pr ON pr.paragraph_id = p.paragraph_id AND pr.model_id = $model_id
    WHERE p.bare_heading IS NOT TRUE  -- a bare heading ("Sex") has nothing to label
      AND CASE $queue
        WHEN 'drug' THEN p.document_id IN (
            SELECT document_id FROM latest_documents WHERE set_id = $set_id)
        WHEN 'confidence' THEN p.rule_label IS NULL AND pr.label IS NOT NULL
        WHEN 'disagreements' THEN p.rule_label IS NOT NULL AND pr.label IS NOT NULL
            AND pr.label <> p.rule_label
            AND NOT (pr.label = 'adme'
                     AND p.rule_label IN ('absorption', 'distribution', 'metabolism', 'excretion'))
        ELSE false
    END
    QUALIFY $queue = 'drug'
        OR row_number() OVER (PARTITION BY p.text_hash ORDER BY p.paragraph_id) = 1
)
SELECT
    c.*,
    cp.copies,
    r.label     AS review_label,
    r.review_id,
    r.reviewer,
    count(*) OVER ()       AS total,
    count(r.label) OVER () AS done
FROM candidates c
JOIN copies cp USING (text_hash)
LEFT JOIN current_reviews r USING (text_hash)
ORDER BY
    r.label IS NOT NULL,
    CASE $queue
        WHEN 'confidence' THEN c.confidence
        WHEN 'disagreements' THEN -c.confidence
        ELSE c.ordinal
    END,
    c.paragraph_id
LIMIT $limit;
