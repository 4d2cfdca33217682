-- Register sweep $sweep with its axis and shared options (adme sweep, first run only).
INSERT INTO sweeps (sweep_name, axis, params) VALUES ($sweep, $axis, $params);
