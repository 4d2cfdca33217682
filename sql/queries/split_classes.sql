-- The class names of one split, in model order, and its content identity (adme train).
-- Parameter: $split.
SELECT classes, content_id FROM splits WHERE split_name = $split;
