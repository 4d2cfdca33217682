-- Labels (latest version) with one active ingredient, by name or UNII: reference (NDA/BLA) labels first, then generics.
-- kind: report
-- param: ingredient = null
-- param: unii = null
-- ingredient matches an active ingredient's name or its active moiety's, in any case (naproxen
-- finds naproxen and naproxen sodium); unii matches the ingredient's or the moiety's UNII.
-- duckdb CLI:
--   duckdb data/adme.duckdb -c "PREPARE q AS $(cat sql/labels_by_ingredient.sql) EXECUTE q(ingredient := 'naproxen', unii := NULL);"
WITH matching AS (
    SELECT document_id FROM documents_with_active($ingredient, $unii)
),
applications AS (
    SELECT document_id,
           string_agg(DISTINCT application_number, ', ' ORDER BY application_number) AS application_numbers,
           string_agg(DISTINCT labeler, ', ' ORDER BY labeler) AS labeler,
           string_agg(DISTINCT dosage_form, ', ' ORDER BY dosage_form) AS dosage_forms
    FROM products
    GROUP BY document_id
)
SELECT
    n.active_ingredients,
    d.set_id,
    d.version,
    d.effective_date,
    n.display_name,
    n.marketing_category,
    coalesce(n.marketing_category IN ('NDA', 'BLA'), false)            AS reference,
    a.application_numbers,
    a.labeler,
    a.dosage_forms,
    count(p.paragraph_id)                                               AS pk_paragraphs,
    count(p.paragraph_id) FILTER (WHERE p.rule_label = 'absorption')   AS absorption,
    count(p.paragraph_id) FILTER (WHERE p.rule_label = 'distribution') AS distribution,
    count(p.paragraph_id) FILTER (WHERE p.rule_label = 'metabolism')   AS metabolism,
    count(p.paragraph_id) FILTER (WHERE p.rule_label = 'excretion')    AS excretion
FROM latest_documents d
JOIN matching m USING (document_id)
JOIN document_names n USING (document_id)
LEFT JOIN applications a USING (document_id)
LEFT JOIN paragraphs p ON p.document_id = d.document_id
GROUP BY ALL
ORDER BY active_ingredients, reference DESC, marketing_category, display_name, set_id;
