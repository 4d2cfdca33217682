-- Record one applied release or update file (adme fetch --release / --updates).
INSERT INTO releases (name, kind, url, size, sha256, published, covers_from,
                      documents_added, documents_skipped, documents_rejected)
VALUES ($name, $kind, $url, $size, $sha256, $published, $covers_from,
        $added, $skipped, $rejected)
ON CONFLICT DO NOTHING;
