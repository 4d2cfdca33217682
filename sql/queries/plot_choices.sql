-- What adme plot can draw: stored splits, runs (newest first), models with predictions, sweeps.
-- Internal query of adme plot (not a report): used for defaults and for naming the choices in errors.
SELECT 'split' AS kind, split_name AS name, created_at AS stamp FROM splits
UNION ALL
SELECT 'run', run_id, coalesce(finished, started) FROM runs
UNION ALL
SELECT 'model', model_id, max(created_at) FROM predictions GROUP BY model_id
UNION ALL
SELECT 'sweep', sweep_name, created_at FROM sweeps
ORDER BY kind, stamp DESC NULLS LAST, name;
