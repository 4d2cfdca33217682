-- For one active ingredient: the reference (NDA/BLA) labels' ADME paragraphs, and for each generic (ANDA, NDA authorized generic) how many PK paragraphs are not word for word in a reference.
-- kind: report
-- param: ingredient = null
-- param: unii = null
-- Latest version of each label; labels are compared within the same active ingredients (a
-- combination product is compared with its own combination's reference). "Word for word" is
-- the same text_hash (text lower-cased, whitespace collapsed). Reference rows: one per ADME
-- paragraph, with in_generics = how many generic labels carry that exact text. Generic rows:
-- one per label, with not_in_reference (NULL when no reference label is stored).
-- duckdb CLI:
--   duckdb data/adme.duckdb -c "PREPARE q AS $(cat sql/reference_vs_generics.sql) EXECUTE q(ingredient := 'celecoxib', unii := NULL);"
WITH matching AS (
    SELECT document_id FROM documents_with_active($ingredient, $unii)
),
labels AS (
    SELECT d.document_id, d.set_id, n.display_name, n.active_ingredients, n.marketing_category,
           CASE WHEN n.marketing_category IN ('NDA', 'BLA') THEN 'reference'
                WHEN n.marketing_category IN ('ANDA', 'NDA AUTHORIZED GENERIC') THEN 'generic'
           END AS part,
           (SELECT string_agg(DISTINCT application_number, ', ' ORDER BY application_number)
            FROM products pr WHERE pr.document_id = d.document_id) AS application_numbers
    FROM latest_documents d
    JOIN matching USING (document_id)
    JOIN document_names n USING (document_id)
),
reference_texts AS (
    SELECT DISTINCT l.active_ingredients, p.text_hash
    FROM labels l JOIN paragraphs p USING (document_id)
    WHERE l.part = 'reference'
),
has_reference AS (
    SELECT DISTINCT active_ingredients FROM labels WHERE part = 'reference'
),
generic_texts AS (
    SELECT DISTINCT l.active_ingredients, l.set_id, p.text_hash
    FROM labels l JOIN paragraphs p USING (document_id)
    WHERE l.part = 'generic'
),
generic_paragraphs AS (
    SELECT l.*, p.paragraph_id,
           h.active_ingredients IS NOT NULL                     AS has_reference,
           p.paragraph_id IS NOT NULL AND r.text_hash IS NULL   AS diverges
    FROM labels l
    LEFT JOIN paragraphs p USING (document_id)
    LEFT JOIN has_reference h ON h.active_ingredients = l.active_ingredients
    LEFT JOIN reference_texts r
           ON r.active_ingredients = l.active_ingredients AND r.text_hash = p.text_hash
    WHERE l.part = 'generic'
)
SELECT
    l.active_ingredients,
    'reference'                    AS part,
    l.set_id,
    l.display_name,
    l.marketing_category,
    l.application_numbers,
    p.ordinal,
    p.rule_label,
    left(p.text, 100)              AS text_preview,
    (SELECT count(DISTINCT g.set_id) FROM generic_texts g
     WHERE g.active_ingredients = l.active_ingredients AND g.text_hash = p.text_hash)
                                   AS in_generics,
    NULL::BIGINT                   AS pk_paragraphs,
    NULL::BIGINT                   AS not_in_reference
FROM labels l
JOIN paragraphs p USING (document_id)
WHERE l.part = 'reference'
  AND p.rule_label IN ('absorption', 'distribution', 'metabolism', 'excretion')
UNION ALL
SELECT
    active_ingredients,
    'generic',
    set_id,
    display_name,
    marketing_category,
    application_numbers,
    NULL, NULL, NULL, NULL,
    count(paragraph_id),
    CASE WHEN bool_or(has_reference) THEN count(*) FILTER (WHERE diverges) END
FROM generic_paragraphs
GROUP BY active_ingredients, set_id, display_name, marketing_category, application_numbers
ORDER BY active_ingredients, part DESC, not_in_reference DESC NULLS LAST, set_id, ordinal;
