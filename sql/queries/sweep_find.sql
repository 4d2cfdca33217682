-- The stored axis and shared options of sweep $sweep (adme sweep), to check a rerun matches.
SELECT axis, params FROM sweeps WHERE sweep_name = $sweep;
