-- Each paragraph's document facts, for `adme split --group-by`: the set id, the active
-- ingredients (document_names: moieties, sorted, ' + '-joined; NULL when no products are
-- stored) and the title (the drug name of last resort).
SELECT p.paragraph_id, p.document_id, p.set_id, n.active_ingredients, d.title
FROM paragraphs AS p
JOIN documents AS d USING (document_id)
LEFT JOIN document_names AS n USING (document_id)
ORDER BY p.paragraph_id;
