-- Cells of sweep $sweep already finished: a run's rows are written in one transaction once it
-- has finished, so a run row means the cell is done (adme sweep skips it).
SELECT split, method, seed FROM runs WHERE sweep = $sweep AND finished IS NOT NULL;
