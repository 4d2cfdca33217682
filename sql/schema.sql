-- adme schema: every table and view. Applied by `adme` on every open; idempotent.
-- The same file runs unchanged in the duckdb CLI:  duckdb data/adme.duckdb < sql/schema.sql

-- One row per SPL document version (set_id + version is unique).
CREATE TABLE IF NOT EXISTS documents (
    document_id    VARCHAR PRIMARY KEY,   -- SPL id/@root
    set_id         VARCHAR NOT NULL,      -- setId/@root: stable across versions, the join key
    version        INTEGER NOT NULL,      -- versionNumber/@value
    effective_date DATE,                  -- effectiveTime/@value
    title          VARCHAR,
    doc_type       VARCHAR,               -- LOINC document type, 34391-3 = human prescription
    source         VARCHAR,               -- file, ZIP member or URL it came from
    sha256         VARCHAR NOT NULL,      -- content address of the raw XML in the cache
    pk_found       VARCHAR,               -- how the pharmacokinetics section was found (NULL: none)
    fetched_at     TIMESTAMP DEFAULT current_timestamp,
    UNIQUE (set_id, version)
);

-- One row per pharmacokinetics (LOINC 43682-4) paragraph, list or table.
CREATE TABLE IF NOT EXISTS paragraphs (
    paragraph_id VARCHAR PRIMARY KEY,     -- document_id || '/' || ordinal
    document_id  VARCHAR NOT NULL,
    set_id       VARCHAR NOT NULL,
    version      INTEGER NOT NULL,
    ordinal      INTEGER NOT NULL,        -- position within the document's PK section
    section_path VARCHAR,                 -- titles from 43682-4 down, joined by ' > '
    heading      VARCHAR,                 -- title or inline heading the rule used (NULL if none)
    text         VARCHAR NOT NULL,        -- without that heading, whitespace-normalised
    text_hash    VARCHAR NOT NULL,        -- sha1 of lower-cased text: duplicate detection
    kind         VARCHAR NOT NULL,        -- prose | list | table
    rule_label   VARCHAR,                 -- absorption|distribution|metabolism|excretion|other|NULL
    rule_reason  VARCHAR                  -- which title or heading decided it
);

-- A paragraph that is nothing but a heading: some labels write "Absorption", "Sex", "Special
-- Populations" or "Table 1." as a paragraph of its own, without the emphasis that makes adme
-- read it as a heading, so it is stored as prose with no content to classify. The review
-- queues (review_queue, disagreements, the review page) leave such paragraphs out. Prose of
-- at most 80 characters that is a table/figure number; or one to six words of letters
-- only, starting with a capital, no full stop (a colon may end it); or a Title Case phrase
-- ending with a full stop. On the 5,946 paragraphs of ../shared/spl's 421 labels it picks
-- exactly the 56 bare headings, and none of the 482 hand-labelled gold texts.
CREATE OR REPLACE MACRO heading_only(text, kind) AS
    kind = 'prose' AND length(text) <= 80 AND (
        regexp_full_match(text, '(?:Table|Figure)\s+[0-9]+[A-Za-z]?[.:]?')
        OR regexp_full_match(text, '[A-Z][A-Za-z''’/&(),-]*(?:\s+[A-Za-z''’/&(),-]+){0,5}:?')
        OR regexp_full_match(text,
            '[A-Z][A-Za-z''’/&-]*(?:\s+(?:[A-Z][A-Za-z''’/&-]*|and|or|of|for|in|on|the|to|with)){0,5}\.')
    );
-- paragraphs.bare_heading: heading_only(text, kind), stored when a paragraph is written
-- (store.write_documents, adme merge), so the queues test one boolean instead of reading
-- every paragraph's text (the disagreements report on 40,000 labels took half the CPU time).
-- Rows written without it (by an older adme, a raw INSERT) get it here, on the next open for
-- writing; until then they count as content.
ALTER TABLE paragraphs ADD COLUMN IF NOT EXISTS bare_heading BOOLEAN;
UPDATE paragraphs SET bare_heading = heading_only(text, kind) WHERE bare_heading IS NULL;

-- Every section of a label that has text of its own (adme/spl.py extract_sections), kept by
-- `adme fetch --sections`, so reviewers can query a whole label and `adme pretrain --corpus
-- sections` can read far more in-domain text than the pharmacokinetics paragraphs alone.
-- documents.sections_found is how many were stored; NULL for a document stored without them:
-- the same `adme fetch` again with --sections fills them in (paragraphs, predictions untouched).
ALTER TABLE documents ADD COLUMN IF NOT EXISTS sections_found INTEGER;

CREATE TABLE IF NOT EXISTS sections (
    document_id      VARCHAR NOT NULL,
    ordinal          INTEGER NOT NULL,    -- position in the label's reading order
    code             VARCHAR,             -- LOINC section code (42229-5 = unclassified)
    title            VARCHAR,
    section_path     VARCHAR,             -- titles from the top-level section down, ' > '
    text             VARCHAR NOT NULL,    -- its own text, one line per paragraph/list/table
    pharmacokinetics BOOLEAN NOT NULL,    -- in or under the 43682-4 the paragraphs come from
    PRIMARY KEY (document_id, ordinal)
);

-- Inputs that could not be stored, one line each, so a run can be audited afterwards.
CREATE TABLE IF NOT EXISTS rejects (
    source      VARCHAR NOT NULL,
    reason      VARCHAR NOT NULL,
    rejected_at TIMESTAMP DEFAULT current_timestamp
);

-- Products each document version covers (adme/products.py: subject/manufacturedProduct).
-- documents.products_found is how many were read; NULL for documents stored before adme read
-- products: rerunning `adme fetch --from` on the same input, or `adme fetch --reparse` (from
-- the cache), fills them in without touching paragraphs or predictions.
ALTER TABLE documents ADD COLUMN IF NOT EXISTS products_found INTEGER;

CREATE TABLE IF NOT EXISTS products (
    document_id        VARCHAR NOT NULL,
    set_id             VARCHAR NOT NULL,
    product_ordinal    INTEGER NOT NULL,  -- position among the document's products, from 1
    name               VARCHAR,           -- proprietary name, e.g. LIPITOR
    generic_name       VARCHAR,           -- asEntityWithGeneric/genericMedicine/name
    dosage_form        VARCHAR,           -- formCode/@displayName, e.g. TABLET, FILM COATED
    route              VARCHAR,           -- routeCode/@displayName, e.g. ORAL
    marketing_category VARCHAR,           -- approval/code/@displayName: NDA, ANDA, BLA, ...
    application_number VARCHAR,           -- approval/id/@extension, e.g. NDA020702
    labeler            VARCHAR,           -- author/.../representedOrganization/name
    ndc_product_codes  VARCHAR[],         -- NDC product code, then a kit's parts' codes
    PRIMARY KEY (document_id, product_ordinal)
);

CREATE TABLE IF NOT EXISTS ingredients (
    document_id        VARCHAR NOT NULL,
    product_ordinal    INTEGER NOT NULL,
    ingredient_ordinal INTEGER NOT NULL,  -- position within the product (kit parts' follow)
    name               VARCHAR,           -- ingredientSubstance/name
    unii               VARCHAR,           -- ingredientSubstance/code: FDA UNII
    role               VARCHAR NOT NULL,  -- active | inactive | other
    class_code         VARCHAR,           -- ACTIB | ACTIM | ACTIR | IACT | ... as written
    strength           VARCHAR,           -- quantity, e.g. '500 mg' or '100 mg/5 mL'
    moiety_name        VARCHAR,           -- active moiety, e.g. naproxen for naproxen sodium
    moiety_unii        VARCHAR,
    PRIMARY KEY (document_id, product_ordinal, ingredient_ordinal)
);

-- The documents with an active ingredient named `ingredient` (its name or its active moiety's,
-- any case: naproxen finds naproxen and naproxen sodium) or with UNII `unii` (ingredient's or
-- moiety's); the reports that look up one drug share it. Both NULL is an error, not every label.
CREATE OR REPLACE MACRO documents_with_active(ingredient, unii) AS TABLE
    SELECT DISTINCT i.document_id
    FROM ingredients i
    WHERE i.role = 'active'
      AND CASE WHEN ingredient IS NULL AND unii IS NULL
               THEN error('give --param ingredient=NAME or --param unii=CODE')
               ELSE (lower(i.name) = lower(ingredient) OR lower(i.moiety_name) = lower(ingredient)
                     OR upper(i.unii) = upper(unii) OR upper(i.moiety_unii) = upper(unii))
          END;

-- A human name for every document and what it is made of, for every report that names a drug:
-- display_name: its products' names, each with its generic name when that differs ("Lipitor
--   (atorvastatin calcium)"), in product order; else the product line of a PLR title ("These
--   highlights do not include ... CELECOXIB capsules, for oral use"); else the title; else set_id.
-- active_ingredients: its active moieties (the ingredient when it names none), lower case,
--   sorted, joined by ' + ' ("esomeprazole + naproxen"); NULL when it names no products.
-- marketing_category: its products' categories (NDA, ANDA, BLA, ...), upper case, ' / '-joined.
CREATE OR REPLACE VIEW document_names AS
WITH product_names AS (
    SELECT document_id, min(product_ordinal) AS first, name_part
    FROM (
        SELECT document_id, product_ordinal,
               CASE WHEN name IS NULL THEN generic_name
                    WHEN generic_name IS NULL OR lower(generic_name) = lower(name) THEN name
                    ELSE name || ' (' || generic_name || ')' END AS name_part
        FROM products
    )
    WHERE name_part IS NOT NULL
    GROUP BY document_id, name_part
),
by_products AS (
    SELECT document_id, string_agg(name_part, '; ' ORDER BY first, name_part) AS name
    FROM product_names
    GROUP BY document_id
),
actives AS (
    SELECT document_id,
           string_agg(DISTINCT lower(coalesce(moiety_name, name)), ' + '
                      ORDER BY lower(coalesce(moiety_name, name))) AS active_ingredients
    FROM ingredients
    WHERE role = 'active' AND coalesce(moiety_name, name) IS NOT NULL
    GROUP BY document_id
),
categories AS (
    SELECT document_id,
           string_agg(DISTINCT upper(marketing_category), ' / '
                      ORDER BY upper(marketing_category)) AS marketing_category
    FROM products
    WHERE marketing_category IS NOT NULL
    GROUP BY document_id
)
SELECT
    d.document_id,
    d.set_id,
    coalesce(
        p.name,
        CASE WHEN d.title ILIKE 'these highlights do not include%' THEN coalesce(
            nullif(trim(regexp_extract(d.title,
                '(?i)full prescribing information for .*?\.\s+(.+?)\s*(?:initial u\.\s*s\.\s*approval.*)?$',
                1)), ''),
            nullif(trim(regexp_extract(d.title, '(?i)needed to use (.+?) safely', 1)), '')
        ) END,
        nullif(trim(d.title), ''),
        d.set_id
    ) AS display_name,
    a.active_ingredients,
    c.marketing_category
FROM documents d
LEFT JOIN by_products p USING (document_id)
LEFT JOIN actives a USING (document_id)
LEFT JOIN categories c USING (document_id);

-- Newest version of each set_id.
CREATE OR REPLACE VIEW latest_documents AS
SELECT * FROM documents
QUALIFY row_number() OVER (PARTITION BY set_id ORDER BY version DESC) = 1;

-- Named, reproducible splits (adme split).
CREATE TABLE IF NOT EXISTS splits (
    split_name  VARCHAR PRIMARY KEY,
    params      JSON NOT NULL,            -- everything needed to rebuild it
    classes     VARCHAR[] NOT NULL,       -- label names, in model order
    folded      INTEGER,                  -- duplicate texts folded onto one side
    created_at  TIMESTAMP DEFAULT current_timestamp
);

CREATE TABLE IF NOT EXISTS split_rows (
    split_name   VARCHAR NOT NULL,
    paragraph_id VARCHAR NOT NULL,
    part         VARCHAR NOT NULL,        -- train | validation | test
    label        VARCHAR NOT NULL,        -- the target in this split's classes
    PRIMARY KEY (split_name, paragraph_id)
);

-- Training runs and their scores (adme train).
CREATE TABLE IF NOT EXISTS runs (
    run_id   VARCHAR PRIMARY KEY,
    split    VARCHAR NOT NULL,
    method   VARCHAR NOT NULL,            -- vanilla | ldam | drw | two-stage | tfidf
    model    VARCHAR NOT NULL,            -- base model path or hub id
    params   JSON,
    seed     INTEGER,
    started  TIMESTAMP,
    finished TIMESTAMP,
    output   VARCHAR                      -- folder holding the trained model
);

CREATE TABLE IF NOT EXISTS metrics (
    run_id    VARCHAR NOT NULL,
    part      VARCHAR NOT NULL,           -- validation | test
    class     VARCHAR NOT NULL,           -- a label, or 'micro' / 'macro'
    precision DOUBLE,
    recall    DOUBLE,
    f1        DOUBLE,
    support   INTEGER
);

CREATE TABLE IF NOT EXISTS confusion (
    run_id     VARCHAR NOT NULL,
    part       VARCHAR NOT NULL,
    true_label VARCHAR NOT NULL,
    pred_label VARCHAR NOT NULL,
    n          INTEGER NOT NULL
);

-- Model predictions (adme label): one row per paragraph and model.
CREATE TABLE IF NOT EXISTS predictions (
    paragraph_id VARCHAR NOT NULL,
    model_id     VARCHAR NOT NULL,        -- model name + '@' + hash of its weights
    label        VARCHAR NOT NULL,
    confidence   DOUBLE NOT NULL,
    probs        MAP(VARCHAR, DOUBLE) NOT NULL,
    created_at   TIMESTAMP DEFAULT current_timestamp,
    PRIMARY KEY (paragraph_id, model_id)
);

-- Human reviews of paragraph labels (adme review import, the review page of adme serve).
-- Append-only, an audit trail: a correction is a new row, an undo is a row that retracts an
-- earlier one (label NULL, retracts = its review_id); no row is ever updated or deleted.
-- A review labels the TEXT (text_hash), so it holds for every copy of that text.
CREATE SEQUENCE IF NOT EXISTS review_ids;
CREATE TABLE IF NOT EXISTS reviews (
    review_id    BIGINT PRIMARY KEY DEFAULT nextval('review_ids'),  -- recording order
    paragraph_id VARCHAR NOT NULL,        -- the paragraph the reviewer saw or the file named
    text_hash    VARCHAR NOT NULL,        -- its text: the review holds for all copies
    label        VARCHAR,                 -- absorption|distribution|metabolism|excretion|other;
                                          -- NULL on a retraction
    reviewer     VARCHAR NOT NULL,
    note         VARCHAR,
    source       VARCHAR NOT NULL,        -- 'page', or 'import <file>:<line>'
    retracts     BIGINT,                  -- the review_id this row undoes (NULL: an answer)
    created_at   TIMESTAMP NOT NULL DEFAULT current_timestamp
);

-- The label in force for each reviewed text: its newest answer not retracted by a later row.
CREATE OR REPLACE VIEW current_reviews AS
SELECT r.text_hash, r.label, r.review_id, r.paragraph_id, r.reviewer, r.note, r.source,
       r.created_at
FROM reviews r
WHERE r.label IS NOT NULL
  AND r.review_id NOT IN (SELECT retracts FROM reviews WHERE retracts IS NOT NULL)
QUALIFY row_number() OVER (PARTITION BY r.text_hash ORDER BY r.review_id DESC) = 1;

-- Every stored paragraph whose text has a review in force, with that reviewed label.
CREATE OR REPLACE VIEW reviewed_paragraphs AS
SELECT p.paragraph_id, p.text_hash, p.rule_label, c.label AS review_label, c.review_id,
       c.reviewer, c.created_at
FROM paragraphs p
JOIN current_reviews c USING (text_hash);

-- Imbalance sweeps (adme sweep): one row per sweep, with the options every one of its cells
-- shares; the cells themselves are the runs tagged with the sweep's name.
CREATE TABLE IF NOT EXISTS sweeps (
    sweep_name VARCHAR PRIMARY KEY,
    axis       VARCHAR NOT NULL,          -- ratio | step | long-tail: the split method swept
    params     JSON NOT NULL,             -- shared split and training options
    created_at TIMESTAMP DEFAULT current_timestamp
);
ALTER TABLE runs ADD COLUMN IF NOT EXISTS sweep VARCHAR;  -- the adme sweep a run is a cell of

-- Release and update ZIPs applied by `adme fetch --release / --updates`, one row per file
-- version (a monthly release part keeps its name and changes its bytes), so a rerun downloads
-- and ingests nothing it already applied, and `adme report releases` says how current it is.
CREATE TABLE IF NOT EXISTS releases (
    name               VARCHAR NOT NULL,  -- file name, e.g. dm_spl_release_human_rx_part1.zip
    kind               VARCHAR NOT NULL,  -- release | daily | weekly | monthly
    url                VARCHAR NOT NULL,  -- where it was downloaded from (documents.source prefix)
    size               BIGINT NOT NULL,   -- bytes, as announced and as downloaded
    sha256             VARCHAR NOT NULL,
    published          DATE,              -- from the name (updates), else Last-Modified
    covers_from        DATE,              -- first day an update covers (NULL for releases)
    applied_at         TIMESTAMP DEFAULT current_timestamp,
    documents_added    INTEGER NOT NULL,  -- documents stored from this file
    documents_skipped  INTEGER NOT NULL,  -- labels in it already stored from elsewhere
    documents_rejected INTEGER NOT NULL,
    PRIMARY KEY (name, size, sha256)
);
-- What an `adme evaluate` run was scored on (e.g. gold:unlabelled_gold.jsonl, split:natural);
-- NULL for a training run, which is scored on its own split's parts.
ALTER TABLE runs ADD COLUMN IF NOT EXISTS evaluated_on VARCHAR;

-- A split's content identity (issue 13): sha256 over its (text_hash, part, label) rows, so two
-- versions of one split name (rebuilt after new labels arrived) never pass for one experiment.
-- Every run records the identity of the split it trained on; reports group runs by it.
ALTER TABLE splits ADD COLUMN IF NOT EXISTS content_id VARCHAR;
ALTER TABLE runs ADD COLUMN IF NOT EXISTS split_id VARCHAR;
-- Old databases migrate: a split gets its identity from its stored rows; a run gets its split's
-- identity only if it started after that split was (re)built, else it stays NULL (unknown).
UPDATE splits SET content_id = (
    SELECT left(sha256(coalesce(string_agg(row_key, chr(10) ORDER BY row_key), '')), 16)
    FROM (SELECT coalesce(p.text_hash, r.paragraph_id) || ' ' || r.part || ' ' || r.label AS row_key
          FROM split_rows r LEFT JOIN paragraphs p USING (paragraph_id)
          WHERE r.split_name = splits.split_name)
) WHERE content_id IS NULL;
UPDATE runs SET split_id = (
    SELECT s.content_id FROM splits s
    WHERE s.split_name = runs.split AND s.created_at <= coalesce(runs.started, runs.finished)
) WHERE split_id IS NULL;
