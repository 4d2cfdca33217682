"""The review page of `adme serve`: people correct paragraph labels in the browser.

    GET  /review                 the page (plain HTML + a little JavaScript, from adme/static/)
    GET  /api/review/config      whether answers are recorded, as whom, the five labels
    GET  /api/review/drugs       every label's latest version, with paragraphs and reviewed counts
    GET  /api/review/items       one queue: ?queue=confidence|disagreements|drug[&set_id=...]
    POST /api/review/answers     {"paragraph_id", "label", "note"?} -> a `reviews` row, at once
    POST /api/review/undo        {"review_id"} -> a row retracting that answer

The page needs no build step and loads nothing from elsewhere (the machine may be offline).
Answers are recorded only when the server was started with `--allow-reviews --reviewer NAME`;
the reviewer's name comes from the server, never from the page. Every answer is written and
committed before the page moves on, so closing the tab loses nothing; an undo is itself a row
(`adme.reviews.retract_review`), so the trail stays append-only.

Database access: DuckDB lets one process write a file at a time, and one process may not hold
read-only and read-write connections to a file at once, so every request of this app opens its
own short connection under one lock (`db_lock`, shared with the REST endpoints), and a write
waits a bounded time for another process (`adme label`, `adme review import`) to finish.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from fastapi import FastAPI, HTTPException
from fastapi.responses import FileResponse, RedirectResponse
from fastapi.staticfiles import StaticFiles
from pydantic import BaseModel, Field

from adme import reports, reviews, store
from adme.errors import AdmeError

STATIC_DIR = Path(__file__).resolve().parent / "static"
QUEUES = ("confidence", "disagreements", "drug")
PAGE_SIZE = 50
WRITE_WAIT_S = 5.0  # an answer waits this long for another process holding the database


class AnswerRequest(BaseModel):
    """One reviewer answer: the paragraph shown and the label chosen."""

    paragraph_id: str = Field(..., min_length=1)
    label: str
    note: str | None = Field(None, max_length=2000)


class UndoRequest(BaseModel):
    """Retract one earlier answer."""

    review_id: int


def item_from_row(row: dict[str, Any]) -> dict[str, Any]:
    """Shape one review_items.sql row for the page."""
    model = None
    if row["model_label"] is not None:
        model = {
            "label": row["model_label"],
            "confidence": row["confidence"],
            "probs": dict(row["probs"]),
        }
    review = None
    if row["review_label"] is not None:
        review = {
            "label": row["review_label"],
            "review_id": row["review_id"],
            "reviewer": row["reviewer"],
        }
    keep = ("paragraph_id", "text_hash", "set_id", "title", "section_path", "heading", "text")
    return {
        **{k: row[k] for k in keep},
        **{k: row[k] for k in ("kind", "rule_label", "copies")},
        "model": model,
        "review": review,
    }


def queue_items(
    db_path: Path, queue: str, model_id: str, set_id: str | None, limit: int
) -> dict[str, Any]:
    """The unreviewed paragraphs of one queue (at most LIMIT) with the queue's done/total."""
    if queue not in QUEUES:
        raise HTTPException(422, f"queue: {queue!r} is not one of {', '.join(QUEUES)}")
    if queue == "drug" and not set_id:
        raise HTTPException(422, "set_id: the drug queue needs a set_id")
    columns, rows = reports.run_query(
        db_path,
        "queries/review_items",
        {"queue": queue, "model_id": model_id, "set_id": set_id, "limit": limit},
    )
    records = [dict(zip(columns, row, strict=True)) for row in rows]
    total = records[0]["total"] if records else 0
    done = records[0]["done"] if records else 0
    items = [item_from_row(r) for r in records if r["review_label"] is None]
    return {"queue": queue, "set_id": set_id, "total": total, "done": done, "items": items}


def add_predictions(items: Sequence[dict[str, Any]], predict) -> None:
    """Fill in the model's label for items it has not stored a prediction for (drug view)."""
    missing = [item for item in items if item["model"] is None]
    if not missing:
        return
    for item, p in zip(missing, predict([i["text"] for i in missing]), strict=True):
        item["model"] = {"label": p.label, "confidence": p.confidence, "probs": dict(p.probs)}


def migrate(db_path: Path) -> None:
    """Apply the schema once, so an older database has the reviews table the page reads.

    Skipped when the file does not exist (the REST API reports that) or another process holds
    it (the page's queries then answer 503 until it is free).
    """
    if not db_path.is_file():
        return
    with contextlib.suppress(AdmeError):
        store.connect(db_path).close()


def add_review_routes(
    app: FastAPI,
    db_path: Path,
    *,
    model_id: str,
    predict,
    db_lock: threading.Lock,
    allow_reviews: bool = False,
    reviewer: str | None = None,
) -> None:
    """Mount the review page and its JSON API on APP.

    PREDICT(texts) -> predictions (the served model, behind its lock) labels paragraphs that
    have no stored prediction. Without ALLOW_REVIEWS every write answers 403.
    """
    if allow_reviews and not (reviewer or "").strip():
        raise AdmeError("--allow-reviews needs --reviewer NAME (recorded with every answer)")
    if reviewer and not allow_reviews:
        raise AdmeError("--reviewer is only used with --allow-reviews")
    with db_lock:
        migrate(db_path)
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")

    def writable() -> str:
        if not allow_reviews:
            raise HTTPException(
                403, "this server is read-only: start it with --allow-reviews --reviewer NAME"
            )
        return reviewer

    def write(action):
        with db_lock:
            con = reviews.connect_for_writing(db_path, WRITE_WAIT_S)
            try:
                return action(con)
            finally:
                con.close()

    @app.get("/", include_in_schema=False)
    def root() -> RedirectResponse:
        return RedirectResponse("/review")

    @app.get("/review", include_in_schema=False)
    def page() -> FileResponse:
        return FileResponse(STATIC_DIR / "review.html", media_type="text/html")

    @app.get("/api/review/config")
    def config() -> dict[str, Any]:
        """Whether answers are recorded and as whom; the labels in key order 1-5."""
        return {
            "allow_reviews": allow_reviews,
            "reviewer": reviewer if allow_reviews else None,
            "labels": list(reviews.LABELS),
            "model_id": model_id,
            "database": str(db_path),
        }

    @app.get("/api/review/drugs")
    def drugs() -> list[dict[str, Any]]:
        """Every label's latest version: set id, title, paragraphs, reviewed paragraphs."""
        with db_lock:
            columns, rows = reports.run_query(db_path, "queries/review_drugs")
        return [dict(zip(columns, row, strict=True)) for row in rows]

    @app.get("/api/review/items")
    def items(queue: str = "confidence", set_id: str | None = None, limit: int = PAGE_SIZE):
        """The next unreviewed paragraphs of a queue, with done / total for its counter."""
        limit = max(1, min(limit, 500))
        with db_lock:
            answer = queue_items(db_path, queue, model_id, set_id, limit)
        add_predictions(answer["items"], predict)
        return answer

    @app.post("/api/review/answers")
    def answer(request: AnswerRequest) -> dict[str, Any]:
        """Record one answer as a reviews row (committed before this returns)."""
        name = writable()
        try:
            label = reviews.check_label(request.label)
        except AdmeError as exc:
            raise HTTPException(422, f"label: {exc}") from None
        try:
            review_id = write(
                lambda con: reviews.record_review(
                    con, request.paragraph_id, label, name, source="page", note=request.note
                )
            )
        except reviews.UnknownParagraph as exc:
            raise HTTPException(404, str(exc)) from None
        return {"review_id": review_id, "paragraph_id": request.paragraph_id, "label": label}

    @app.post("/api/review/undo")
    def undo(request: UndoRequest) -> dict[str, Any]:
        """Record a row retracting an earlier answer; the text falls back to the one before."""
        name = writable()
        try:
            review_id = write(
                lambda con: reviews.retract_review(con, request.review_id, name, source="page")
            )
        except reviews.ReviewConflict as exc:
            raise HTTPException(409, str(exc)) from None
        return {"review_id": review_id, "retracts": request.review_id}
