-- Store one finished training run with its scores (adme train), inside one transaction, from
-- the registered tables new_run, new_metrics and new_confusion.
INSERT INTO runs BY NAME SELECT * FROM new_run;
INSERT INTO metrics BY NAME SELECT * FROM new_metrics;
INSERT INTO confusion BY NAME SELECT * FROM new_confusion;
