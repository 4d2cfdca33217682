"""`adme serve`: a small REST API over one trained model and the adme database.

    POST /label              {"paragraphs": ["...", ...]} -> label and per-class probabilities
    GET  /documents/{set_id} the latest version's paragraphs, rule labels and this model's labels
    GET  /health             status, model id, database
    GET  /review             the review page (adme/review_page.py): correct labels by hand

Why FastAPI + uvicorn: request bodies are validated by pydantic models (a wrong shape is a 422
naming the field, not a stack trace), the OpenAPI schema and interactive docs at /docs come for
free, and both are widely used and actively maintained; uvicorn is the standard ASGI server
for it. It binds 127.0.0.1 by default: the API has no authentication, so exposing it is a
deliberate choice (`--host 0.0.0.0`).

Inference goes through `adme.inference.load_model` / `predict_texts`, the same code as
`adme label`, so served labels equal stored ones (BERT or TF-IDF folders alike). The model
is shared by the worker threads behind a lock; each database request opens its own read-only
connection, so `adme label` or `adme fetch` can be stopped and restarted beside a running server.
"""

from __future__ import annotations

import errno
import socket
import threading
from pathlib import Path
from typing import Annotated, Any

from fastapi import FastAPI, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import AfterValidator, BaseModel, Field
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from adme import __version__, reports
from adme.errors import AdmeError
from adme.inference import InferenceOptions, load_model, predict_texts
from adme.review_page import add_review_routes

MAX_BODY_BYTES = 1_000_000
MAX_PARAGRAPHS = 256


# --- request and response shapes ------------------------------------------------------------


def unicode_text(text: str) -> str:
    """Refuse text that is not valid Unicode: JSON's `\\ud800` escape decodes to a lone
    surrogate, which no tokenizer can encode (it was a 500, it is a 422 naming the paragraph)."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise ValueError(
            f"text holds a lone surrogate (\\u{ord(text[exc.start]):04x} at character "
            f"{exc.start}), not valid Unicode"
        ) from None
    return text


class LabelRequest(BaseModel):
    """Paragraphs to classify (plain text, without their heading, as `adme label` stores them)."""

    paragraphs: list[Annotated[str, AfterValidator(unicode_text)]] = Field(
        ..., min_length=1, description="Paragraph texts to label."
    )


class LabelledText(BaseModel):
    """One paragraph's predicted class, its probability, and every class's probability."""

    label: str
    confidence: float
    probs: dict[str, float]


class LabelResponse(BaseModel):
    """Predictions in the order of the request's paragraphs."""

    model_id: str
    predictions: list[LabelledText]


class Prediction(BaseModel):
    """The served model's stored prediction for a paragraph."""

    label: str
    confidence: float
    probs: dict[str, float]


class DocumentParagraph(BaseModel):
    """A stored pharmacokinetics paragraph with its rule label and (if any) the model's label."""

    paragraph_id: str
    ordinal: int
    section_path: str | None
    heading: str | None
    text: str
    kind: str
    rule_label: str | None
    rule_reason: str | None
    prediction: Prediction | None


class DocumentResponse(BaseModel):
    """The latest stored version of one label."""

    set_id: str
    document_id: str
    version: int
    title: str | None
    display_name: str  # products' names, else the title's product line (document_names)
    effective_date: str | None
    model_id: str
    paragraphs: list[DocumentParagraph]


class HealthResponse(BaseModel):
    """Whether the server can answer, with what model and database."""

    status: str
    version: str
    model_id: str
    labels: list[str]
    database: str
    documents: int | None
    paragraphs: int | None
    database_error: str | None = None


# --- body size limit --------------------------------------------------------------------------


class BodySizeLimit:
    """ASGI middleware answering 413 to a request body over `max_bytes`.

    A declared Content-Length is checked before anything is read; a chunked body is counted as
    it arrives and refused as soon as it passes the limit, so memory stays bounded either way.
    """

    def __init__(self, app: ASGIApp, max_bytes: int):
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope["headers"]).get(b"content-length", b"")
        if declared.isdigit() and int(declared) > self.max_bytes:
            await JSONResponse({"detail": self._message()}, status_code=413)(scope, receive, send)
            return
        received = 0

        async def counting_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    raise HTTPException(413, self._message())
            return message

        await self.app(scope, counting_receive, send)

    def _message(self) -> str:
        return f"request body is larger than {self.max_bytes} bytes"


# --- helpers --------------------------------------------------------------------------------


def validation_message(exc: RequestValidationError) -> str:
    """One readable line from pydantic's error list: `field: problem; ...`."""
    parts = []
    for error in exc.errors():
        where = ".".join(str(x) for x in error.get("loc", ()) if x != "body") or "body"
        if error.get("type") == "json_invalid":
            reason = error.get("ctx", {}).get("error", "parse error")
            parts.append(f"body is not valid JSON ({reason})")
        else:
            parts.append(f"{where}: {error.get('msg')}")
    return "; ".join(parts)


def document_from_rows(columns: list[str], rows: list[tuple], model_id: str) -> dict[str, Any]:
    """Shape serve_document.sql's rows (one per paragraph) into one document dictionary."""
    records = [dict(zip(columns, row, strict=True)) for row in rows]
    first = records[0]
    paragraphs = [
        {
            **{k: r[k] for k in ("paragraph_id", "ordinal", "section_path", "heading", "text")},
            **{k: r[k] for k in ("kind", "rule_label", "rule_reason")},
            "prediction": None
            if r["predicted_label"] is None
            else {
                "label": r["predicted_label"],
                "confidence": r["predicted_confidence"],
                "probs": dict(r["predicted_probs"]),
            },
        }
        for r in records
        if r["paragraph_id"] is not None
    ]
    return {
        **{k: first[k] for k in ("set_id", "document_id", "version", "title", "effective_date")},
        "display_name": first["display_name"],
        "model_id": model_id,
        "paragraphs": paragraphs,
    }


# --- the app --------------------------------------------------------------------------------


def create_app(
    db_path: str | Path,
    model_dir: str | Path,
    max_body_bytes: int = MAX_BODY_BYTES,
    *,
    max_paragraphs: int = MAX_PARAGRAPHS,
    device: str = "auto",
    batch_size: int = 32,
    max_length: int | None = None,
    precision: str = "auto",
    allow_reviews: bool = False,
    reviewer: str | None = None,
) -> FastAPI:
    """Build the API over the model in MODEL_DIR and the database DB_PATH.

    The model is loaded now, so a missing or unusable folder is an AdmeError before serving.
    The review page records answers only with ALLOW_REVIEWS, as REVIEWER. `max_length` None
    takes the folder's own (adme.json); the app's `state.notes` says what the command line
    changed. `precision` is adme.inference's (auto: reduced precision on the CPU).
    """
    db_path = Path(db_path)
    if allow_reviews and not (reviewer or "").strip():  # before the (slow) model load
        raise AdmeError("--allow-reviews needs --reviewer NAME (recorded with every answer)")
    options = InferenceOptions(
        device=device, batch_size=batch_size, max_length=max_length, precision=precision
    )
    classifier = load_model(model_dir, options)
    inference_lock = threading.Lock()
    db_lock = threading.Lock()  # one connection at a time: see adme/review_page.py
    app = FastAPI(
        title="adme",
        version=__version__,
        description="ADME labels for pharmacokinetics paragraphs of FDA drug labels.",
    )
    app.add_middleware(BodySizeLimit, max_bytes=max_body_bytes)
    app.state.notes = list(classifier.notes)

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        return JSONResponse({"detail": validation_message(exc)}, status_code=422)

    @app.exception_handler(AdmeError)
    async def _unavailable(request: Request, exc: AdmeError) -> JSONResponse:
        # the database is missing, locked or unreadable: the server itself is fine
        return JSONResponse({"detail": str(exc)}, status_code=503)

    @app.post("/label", response_model=LabelResponse)
    def label(request: LabelRequest) -> dict[str, Any]:
        """Classify up to max_paragraphs paragraphs; predictions come back in request order."""
        if len(request.paragraphs) > max_paragraphs:
            raise HTTPException(
                422,
                f"paragraphs: {len(request.paragraphs)} given, at most {max_paragraphs} "
                "per request",
            )
        with inference_lock:
            predictions = predict_texts(classifier, request.paragraphs)
        return {
            "model_id": classifier.model_id,
            "predictions": [
                {"label": p.label, "confidence": p.confidence, "probs": p.probs}
                for p in predictions
            ],
        }

    @app.get("/documents/{set_id}", response_model=DocumentResponse)
    def document(set_id: str) -> dict[str, Any]:
        """The latest stored version of SET_ID with rule labels and this model's predictions."""
        with db_lock:
            columns, rows = reports.run_query(
                db_path,
                "queries/serve_document",
                {"set_id": set_id, "model_id": classifier.model_id},
            )
        if not rows:
            raise HTTPException(404, f"set_id {set_id!r} is not in the database {db_path}")
        return document_from_rows(columns, rows, classifier.model_id)

    @app.get("/health", response_model=HealthResponse)
    def health() -> dict[str, Any]:
        """Model identity and database reachability; status is `degraded` if the DB is not."""
        answer: dict[str, Any] = {
            "status": "ok",
            "version": __version__,
            "model_id": classifier.model_id,
            "labels": list(classifier.classes),
            "database": str(db_path),
            "documents": None,
            "paragraphs": None,
        }
        try:
            with db_lock:
                _, ((documents, paragraphs),) = reports.run_query(db_path, "queries/serve_health")
            answer.update(documents=documents, paragraphs=paragraphs)
        except AdmeError as exc:
            answer.update(status="degraded", database_error=str(exc))
        return answer

    def predict(texts: list[str]):
        with inference_lock:
            return predict_texts(classifier, texts)

    add_review_routes(
        app,
        db_path,
        model_id=classifier.model_id,
        predict=predict,
        db_lock=db_lock,
        allow_reviews=allow_reviews,
        reviewer=reviewer,
    )
    return app


def start_line(host: str, port: int, allow_reviews: bool, reviewer: str | None) -> str:
    """What `adme serve` says on start: the address, who can reach it, whether reviews record."""
    reach = (
        "this machine only" if host in ("127.0.0.1", "localhost", "::1") else "other machines too"
    )
    mode = (
        f"answers are recorded as reviewer {reviewer!r}"
        if allow_reviews
        else "read-only (--allow-reviews --reviewer NAME to record answers)"
    )
    return (
        f"adme serve: bound to {host}:{port} ({reach}); review page "
        f"http://{'127.0.0.1' if host in ('0.0.0.0', '::') else host}:{port}/review, {mode}"
    )


def serve(
    db_path: str | Path,
    model_dir: str | Path,
    host: str = "127.0.0.1",
    port: int = 8000,
    *,
    max_body_bytes: int = MAX_BODY_BYTES,
    max_paragraphs: int = MAX_PARAGRAPHS,
    device: str = "auto",
    max_length: int | None = None,
    precision: str = "auto",
    allow_reviews: bool = False,
    reviewer: str | None = None,
    announce=None,
) -> str:
    """Run the API with uvicorn until interrupted; return a line saying it stopped.

    ANNOUNCE(line), when given, is told where the server listens and whether reviews are
    recorded, once the model is loaded. The port is bound before the model loads, so a port
    out of range or already in use is a one-line AdmeError at once, not a uvicorn traceback.
    """
    import uvicorn

    sock = listening_socket(host, port)
    try:
        app = create_app(
            db_path,
            model_dir,
            max_body_bytes,
            max_paragraphs=max_paragraphs,
            device=device,
            max_length=max_length,
            precision=precision,
            allow_reviews=allow_reviews,
            reviewer=reviewer,
        )
        for note in app.state.notes:
            (announce or print)(f"note: {note}")
        if announce is not None:
            announce(start_line(host, port, allow_reviews, reviewer))
        config = uvicorn.Config(app, host=host, port=port, log_level="info")
        uvicorn.Server(config).run(sockets=[sock])
    finally:
        sock.close()
    return f"adme serve on {host}:{port} stopped"


def listening_socket(host: str, port: int) -> socket.socket:
    """A TCP socket bound to HOST:PORT; a bad port, a bad host or a port in use is an AdmeError."""
    if not 0 < port < 65536:
        raise AdmeError(f"--port {port}: not a TCP port (1-65535)")
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except (OSError, UnicodeError) as exc:
        raise AdmeError(f"--host {host}: cannot resolve it ({exc})") from exc
    family, kind, proto, _, address = infos[0]
    sock = socket.socket(family, kind, proto)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
        sock.listen(128)
    except OSError as exc:
        sock.close()
        reason = "already in use" if exc.errno == errno.EADDRINUSE else exc.strerror or str(exc)
        raise AdmeError(f"cannot listen on {host}:{port}: {reason}") from exc
    sock.set_inheritable(True)
    return sock
