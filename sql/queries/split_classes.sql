-- The class names of one split, in model order (adme train). Parameter: $split.
SELECT classes FROM splits WHERE split_name = $split;
