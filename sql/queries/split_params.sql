-- The stored parameters of split $split, or no row (adme sweep reuses a split it made before).
SELECT params FROM splits WHERE split_name = $split;
