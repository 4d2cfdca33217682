"""`adme train`: vanilla, LDAM, DRW and two-stage fine-tuning, and a TF-IDF baseline.

Two-stage fine-tuning (ValizadehAslani et al., Algorithm 1, as the authors' released code does
it): stage 1 trains only the last encoder layer, the pooler and the classification head with
LDAM loss and effective-number class weights; stage 2 unfreezes everything and fine-tunes with
plain cross-entropy and the vanilla hyperparameters. One loop serves every method, the CPU and
CUDA (mixed precision), and one or many processes (torchrun + DistributedDataParallel).

The model reads the paragraph text only, never the heading that gave the rule label. What a
finished run leaves behind (scores, model card, metrics.json, database rows) is adme/runs.py.
"""

from __future__ import annotations

import copy
import datetime as dt
import itertools
import random
import uuid
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import numpy as np
import torch
from rich.progress import Progress
from torch import nn
from torch.utils.data import DataLoader, DistributedSampler

from adme import ddp
from adme.batches import EncodedTexts, PadCollator, encode_texts
from adme.checks import check_number
from adme.device import autocast, grad_scaler, pin_memory, resolve_device, to_device
from adme.errors import AdmeError, UsageError, first_line
from adme.inference import BertClassifier
from adme.losses import LDAMLoss, class_counts, effective_number_weights
from adme.model_folder import encoder_source
from adme.progress import step_bar
from adme.runs import RunResult, Scores, TrainSummary, record_run, save_run, score
from adme.split import SplitData, load_split
from adme.tfidf import DEFAULT_C, GRID_TFIDF_C, TfidfClassifier, fit_tfidf

METHODS = ("two-stage", "vanilla", "ldam", "drw", "tfidf")
GRID_EPOCHS = (1, 2, 3, 4, 5, 6)
GRID_LRS = (1e-5, 5e-5, 1e-4, 5e-4)


# ----------------------------------------------------------------------------- data


def check_split(data: SplitData, grid: bool) -> None:
    """Refuse splits the trainer cannot learn or score: a class absent from train, no test."""
    counts = class_counts(data.parts["train"].labels, len(data.classes))
    missing = [name for name, n in zip(data.classes, counts, strict=True) if n == 0]
    if missing:
        raise AdmeError(f"split {data.name!r}: no training rows for class(es) {missing}")
    if not data.parts["test"].labels:
        raise AdmeError(f"split {data.name!r}: the test part is empty")
    if grid and not data.parts["validation"].labels:
        raise AdmeError(f"split {data.name!r}: --grid needs a validation part (none stored)")


# ----------------------------------------------------------------------------- model


def load_encoder(name: str, classes: Sequence[str]):
    """Load any Hugging Face encoder with a fresh `len(classes)`-way classification head.

    A missing folder, a folder that is not a model, or a model with no sequence-classification
    head becomes a one-line AdmeError.
    """
    from transformers import AutoModelForSequenceClassification, AutoTokenizer
    from transformers.utils import logging as hf_logging

    # a fresh head is expected here: the "newly initialized weights" report is noise
    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    source = encoder_source(name)  # a missing folder fails here, before any hub lookup
    try:
        tokenizer = AutoTokenizer.from_pretrained(source)
        model = AutoModelForSequenceClassification.from_pretrained(
            source,
            num_labels=len(classes),
            id2label=dict(enumerate(classes)),
            label2id={c: i for i, c in enumerate(classes)},
            ignore_mismatched_sizes=True,
        )
    except (OSError, ValueError, KeyError, TypeError) as exc:
        reason = first_line(exc)
        if source == name and not Path(source).is_dir():  # asked the hub for it
            raise AdmeError(
                f"{name}: no such model folder, nor a model the hub gave ({reason})"
            ) from exc
        raise AdmeError(f"{name}: not a usable encoder/classifier model ({reason})") from exc
    if tokenizer.pad_token_id is None:
        raise AdmeError(f"{name}: the tokenizer has no padding token")
    model.config.problem_type = "single_label_classification"
    return model, tokenizer


def stage1_trainable(model: nn.Module, layers: int = 1) -> set[str]:
    """Names of the parameters stage 1 trains: the top `layers` encoder layers, pooler, head.

    `layers` 1 is the paper's setting (the last layer only); a small encoder pre-trained on
    little text may need more of itself adapted (0: only the pooler and head).

    The encoder's layers are the ModuleList holding the most parameters (encoder.layer in
    BERT/RoBERTa, transformer.layer in DistilBERT, ...); the head is whatever lies outside the
    base model.
    """
    lists = [(n, m) for n, m in model.named_modules() if isinstance(m, nn.ModuleList) and len(m)]
    if not lists:
        raise AdmeError("two-stage: cannot find the encoder's layers in this model")
    layers_name, encoder_layers = max(
        lists, key=lambda nm: sum(p.numel() for p in nm[1].parameters())
    )
    n = len(encoder_layers)
    top = tuple(f"{layers_name}.{i}." for i in range(max(n - layers, 0), n))
    base = f"{model.base_model_prefix}."
    return {
        name
        for name, _ in model.named_parameters()
        if name.startswith(top) or ".pooler." in name or not name.startswith(base)
    }


def set_trainable(model: nn.Module, names: set[str] | None) -> None:
    """Freeze every parameter not in `names` (None: train everything)."""
    for name, param in model.named_parameters():
        param.requires_grad = names is None or name in names


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and torch so a run is reproducible."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


# ----------------------------------------------------------------------------- training loop


@dataclass(frozen=True)
class Stage:
    """One pass of fine-tuning: which parameters, which loss, how long, how fast.

    `loss_for_epoch(epoch, epochs)` gives the loss of epoch `epoch` (from 0) of a stage that
    lasts `epochs`: a grid changes a stage's length, and DRW's switch depends on it.
    """

    name: str
    epochs: int
    lr: float
    last_layer_only: bool
    loss_for_epoch: Callable[[int, int], nn.Module]


def make_loader(
    sequences: Sequence[Sequence[int]],
    labels: Sequence[int],
    *,
    batch_size: int,
    seed: int,
    pad_id: int,
    device: torch.device,
    workers: ddp.Workers,
) -> DataLoader:
    """Shuffled, dynamically padded training batches; `batch_size` is the global batch.

    The DistributedSampler is used for one process too (one replica): each process then gets
    an interleaved slice of the same permutation, so N processes see the same global batches.
    Except one thing: when the train part does not divide by N, the sampler repeats up to N - 1
    rows so every process gets as many (and takes as many steps); those repeats join the last
    global batch of each epoch. Left as is: at most N - 1 extra samples an epoch, negligible.
    """
    if batch_size % workers.world_size:
        raise AdmeError(
            f"--batch-size {batch_size} is not divisible by {workers.world_size} processes"
        )
    dataset = EncodedTexts(sequences, labels)
    sampler = DistributedSampler(
        dataset, num_replicas=workers.world_size, rank=workers.rank, shuffle=True, seed=seed
    )
    return DataLoader(
        dataset,
        batch_size=batch_size // workers.world_size,
        sampler=sampler,
        collate_fn=PadCollator(pad_id),
        pin_memory=pin_memory(device),
    )


def fit(
    model: nn.Module,
    loader: DataLoader,
    stage: Stage,
    *,
    device: torch.device,
    workers: ddp.Workers,
    progress: Progress | None = None,
) -> list[float]:
    """Train the parameters that require grad for `stage.epochs`; return mean loss per epoch.

    AdamW without weight decay, linear decay to zero without warm-up, gradient clipping at 1.0,
    autocast and (for fp16) a gradient scaler on CUDA.
    """
    from transformers import get_linear_schedule_with_warmup

    params = [p for p in model.parameters() if p.requires_grad]
    engine = ddp.wrap(model, workers, device)
    optimizer = torch.optim.AdamW(params, lr=stage.lr, weight_decay=0.0)
    scheduler = get_linear_schedule_with_warmup(optimizer, 0, stage.epochs * len(loader))
    scaler = grad_scaler(device)
    task = progress.add_task(stage.name, total=stage.epochs * len(loader)) if progress else None
    model.train()
    epoch_losses = []
    for epoch in range(stage.epochs):
        loader.sampler.set_epoch(epoch)
        loss_fn = stage.loss_for_epoch(epoch, stage.epochs).to(device)
        total = torch.zeros((), device=device)
        for batch in loader:
            batch = to_device(batch, device)
            labels = batch.pop("labels")
            with autocast(device):
                logits = engine(**batch).logits
            loss = loss_fn(logits.float(), labels)
            optimizer.zero_grad(set_to_none=True)
            scaler.scale(loss).backward()
            scaler.unscale_(optimizer)
            torch.nn.utils.clip_grad_norm_(params, 1.0)
            scaler.step(optimizer)
            scaler.update()
            scheduler.step()
            total += loss.detach()
            if progress:
                progress.advance(task)
        epoch_losses.append(float(total) / max(len(loader), 1))
    return epoch_losses


def build_stages(method: str, config: TrainConfig, counts: Sequence[int]) -> list[Stage]:
    """The stages a method runs; the last one takes the vanilla (tunable) hyperparameters."""
    weights = effective_number_weights(counts, config.beta)

    def cross_entropy(_epoch: int, _epochs: int) -> nn.Module:
        return nn.CrossEntropyLoss()

    def ldam(_epoch: int, _epochs: int) -> nn.Module:
        return LDAMLoss(counts, max_m=config.max_m, s=config.s)

    def ldam_weighted(_epoch: int, _epochs: int) -> nn.Module:
        return LDAMLoss(counts, max_m=config.max_m, s=config.s, weight=weights)

    def ldam_deferred(epoch: int, epochs: int) -> nn.Module:
        # drw_start counts from 1: the weights switch on at the start of that epoch
        weight = weights if epoch + 1 >= config.drw_start(epochs) else None
        return LDAMLoss(counts, max_m=config.max_m, s=config.s, weight=weight)

    if method == "two-stage":
        return [
            Stage(
                "stage 1 (LDAM, last layer)",
                config.stage1_epochs,
                config.stage1_lr,
                True,
                ldam_weighted,
            ),
            Stage("stage 2 (cross-entropy, all)", config.epochs, config.lr, False, cross_entropy),
        ]
    tuned = {"vanilla": cross_entropy, "ldam": ldam, "drw": ldam_deferred}
    return [Stage(method, config.epochs, config.lr, False, tuned[method])]


def evaluate(classifier, texts: Sequence[str], labels: Sequence[int]) -> Scores:
    """Score a classifier on one part (argmax of its probabilities), through adme.inference."""
    probs = classifier.predict_proba(texts)
    return score(labels, probs.argmax(axis=1).tolist(), classifier.classes)


# ----------------------------------------------------------------------------- configuration


@dataclass(frozen=True)
class TrainConfig:
    """Every hyperparameter of a run; stored as the run's params JSON and in the model card."""

    method: str = "two-stage"
    epochs: int = 3
    lr: float = 5e-5
    stage1_epochs: int = 3
    stage1_lr: float = 1e-4
    stage1_layers: int = 1  # top encoder layers stage 1 trains (the paper: 1)
    # s = 1: the reference LDAM's s = 30 rescales cosine logits in [-1, 1]; a plain linear
    # head already gives logits on the scale cross-entropy expects, as in the authors' code.
    s: float = 1.0
    max_m: float = 0.5
    beta: float = 0.9999
    drw_epoch: int | None = None
    batch_size: int = 16
    max_length: int = 128
    grid: bool = False
    grid_epochs: tuple[int, ...] = GRID_EPOCHS
    grid_lrs: tuple[float, ...] = GRID_LRS

    def drw_start(self, epochs: int) -> int:
        """Epoch (from 1) at which DRW switches the weights on in a stage of `epochs` epochs.

        By default the last one. A grid candidate shorter than `drw_epoch` re-weights its last
        epoch: DRW that never re-weights would silently be plain LDAM.
        """
        last = max(epochs, 1)
        return last if self.drw_epoch is None else min(self.drw_epoch, last)

    def candidates(self) -> list[tuple[int, float]]:
        """(epochs, lr) pairs of the tuned stage: the grid, or the one configured pair."""
        if self.grid:
            return list(itertools.product(self.grid_epochs, self.grid_lrs))
        return [(self.epochs, self.lr)]


def check_config(config: TrainConfig, model: str | None) -> None:
    """Reject option values that cannot train, before anything is loaded."""
    if config.method not in METHODS:
        raise UsageError(f"--method {config.method}: expected one of {', '.join(METHODS)}")
    if config.method != "tfidf" and not model:
        raise UsageError(f"--method {config.method} needs --model (a folder or hub id)")
    positive = {
        "epochs": config.epochs,
        "batch_size": config.batch_size,
        "max_length": config.max_length,
        "lr": config.lr,
    }
    if config.method == "two-stage":
        positive |= {"stage1_epochs": config.stage1_epochs, "stage1_lr": config.stage1_lr}
        check_number("--stage1-layers", config.stage1_layers, 0)
    for name, value in positive.items():
        check_number(f"--{name.replace('_', '-')}", value, 0, low_open=True)
    if config.method in ("two-stage", "ldam", "drw"):
        check_number("--s", config.s, 0, low_open=True)
        check_number("--max-m", config.max_m, 0)
        check_number("--beta", config.beta, 0, 1, high_open=True)
    if config.drw_epoch is not None:
        if config.method != "drw":
            raise UsageError(f"--drw-epoch applies to --method drw only, not {config.method}")
        if not config.grid and not 1 <= config.drw_epoch <= config.epochs:
            raise UsageError(
                f"--drw-epoch {config.drw_epoch}: must be between 1 and --epochs {config.epochs}"
            )


# ----------------------------------------------------------------------------- one seed


@dataclass
class GridChoice:
    """The best (epochs, lr) of the tuned stage so far: its validation scores and weights."""

    epochs: int
    lr: float
    validation: Scores | None
    state: dict = field(default_factory=dict)

    @property
    def macro_f1(self) -> float:
        """Validation macro-F1 (0 without a validation part)."""
        return self.validation.f1("macro") if self.validation is not None else 0.0


@dataclass
class TrainedModel:
    """One seed's trained classifier (adme.inference's), its scores per part and choices."""

    classifier: object
    scores: dict[str, Scores]
    params: dict


def train_transformer(
    data: SplitData,
    model_name: str,
    config: TrainConfig,
    seed: int,
    *,
    device: torch.device,
    workers: ddp.Workers,
    progress: Progress | None,
) -> TrainedModel:
    """Fine-tune one seed; return the classifier, its scores per part and the chosen grid cell.

    With a grid, every (epochs, lr) of the last stage starts from the same state (after stage 1
    for two-stage) and is scored on the validation part only; the best by macro-F1 is kept and
    the test part is scored once, at the end. Scoring goes through adme.inference, the path
    `adme label` takes.
    """
    seed_everything(seed)
    model, tokenizer = load_encoder(model_name, data.classes)
    model.to(device)
    max_length = min(config.max_length, getattr(model.config, "max_position_embeddings", 1 << 30))
    train_part = data.parts["train"]
    train_ids = encode_texts(tokenizer, train_part.texts, max_length)
    counts = class_counts(train_part.labels, len(data.classes))
    *first_stages, tuned = build_stages(config.method, config, counts)
    classifier = BertClassifier(
        model,
        tokenizer,
        device,
        data.classes,
        "unsaved",
        max_length=max_length,
        batch_size=max(config.batch_size, 32),
        workers=0,
    )

    def run_stage(stage: Stage) -> None:
        set_trainable(
            model, stage1_trainable(model, config.stage1_layers) if stage.last_layer_only else None
        )
        seed_everything(seed)
        loader = make_loader(
            train_ids,
            train_part.labels,
            batch_size=config.batch_size,
            seed=seed,
            pad_id=tokenizer.pad_token_id,
            device=device,
            workers=workers,
        )
        fit(model, loader, stage, device=device, workers=workers, progress=progress)

    def scores_on(part: str) -> Scores | None:
        rows = data.parts[part]
        return evaluate(classifier, rows.texts, rows.labels) if rows.labels else None

    for stage in first_stages:
        run_stage(stage)
    candidates = config.candidates()
    start_state = copy.deepcopy(model.state_dict()) if len(candidates) > 1 else None
    best: GridChoice | None = None
    for epochs, lr in candidates:
        if start_state is not None:
            model.load_state_dict(start_state)
        run_stage(Stage(tuned.name, epochs, lr, tuned.last_layer_only, tuned.loss_for_epoch))
        candidate = GridChoice(epochs, lr, scores_on("validation"))
        if start_state is None:
            best = candidate
            break
        if best is None or candidate.macro_f1 > best.macro_f1:
            candidate.state = {
                k: v.detach().to("cpu", copy=True) for k, v in model.state_dict().items()
            }
            best = candidate
    if best.state:
        model.load_state_dict(best.state)
    scores = {"validation": best.validation, "test": scores_on("test")}
    return TrainedModel(
        classifier,
        {k: v for k, v in scores.items() if v is not None},
        {"chosen_epochs": best.epochs, "chosen_lr": best.lr},
    )


def train_tfidf(data: SplitData, config: TrainConfig, seed: int) -> TrainedModel:
    """TF-IDF + logistic regression (adme/tfidf.py); with a grid, C is tuned on validation."""

    def scores_on(classifier: TfidfClassifier, part: str) -> Scores | None:
        rows = data.parts[part]
        return evaluate(classifier, rows.texts, rows.labels) if rows.labels else None

    def validation_macro_f1(classifier: TfidfClassifier) -> float | None:
        scores = scores_on(classifier, "validation")
        return scores.f1("macro") if scores is not None else None

    train_part = data.parts["train"]
    chosen = fit_tfidf(
        train_part.texts,
        train_part.labels,
        data.classes,
        seed,
        candidates=GRID_TFIDF_C if config.grid else (DEFAULT_C,),
        validate=validation_macro_f1,
    )
    scores = {
        "validation": scores_on(chosen.classifier, "validation"),
        "test": scores_on(chosen.classifier, "test"),
    }
    return TrainedModel(
        chosen.classifier,
        {k: v for k, v in scores.items() if v is not None},
        {"C": chosen.c, "vectorizer": "tfidf word 1-2 grams, sublinear tf"},
    )


# ----------------------------------------------------------------------------- entry point


def _run_id(split: str, method: str, seed: int) -> str:
    stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    return f"{split}-{method}-s{seed}-{stamp}-{uuid.uuid4().hex[:6]}"


def train(
    db_path: str | Path,
    *,
    split: str,
    model: str | None,
    method: str = "two-stage",
    output: str | Path | None = None,
    seeds: Sequence[int] = (42,),
    epochs: int = 3,
    lr: float = 5e-5,
    stage1_epochs: int = 3,
    stage1_lr: float = 1e-4,
    stage1_layers: int = 1,
    s: float = 1.0,
    max_m: float = 0.5,
    beta: float = 0.9999,
    drw_epoch: int | None = None,
    batch_size: int = 16,
    max_length: int = 128,
    grid: bool = False,
    grid_epochs: Sequence[int] = GRID_EPOCHS,
    grid_lrs: Sequence[float] = GRID_LRS,
    device: str = "auto",
    progress: bool = True,
    sweep: str | None = None,
) -> TrainSummary:
    """Train `method` on a stored split once per seed; save each model and record its scores.

    Everything is checked (options, device, split, model) before training starts, and a run's
    rows are written only when it has finished, so a failure leaves no partial run behind.
    Under torchrun every process trains; only rank 0 writes the folder and the database.
    SWEEP tags the stored runs as cells of that `adme sweep`.
    """
    config = TrainConfig(
        method=method,
        epochs=epochs,
        lr=lr,
        stage1_epochs=stage1_epochs,
        stage1_lr=stage1_lr,
        stage1_layers=stage1_layers,
        s=s,
        max_m=max_m,
        beta=beta,
        drw_epoch=drw_epoch,
        batch_size=batch_size,
        max_length=max_length,
        grid=grid,
        grid_epochs=tuple(grid_epochs),
        grid_lrs=tuple(grid_lrs),
    )
    check_config(config, model)
    if not seeds:
        raise AdmeError("--seeds: give at least one seed")
    if config.method != "tfidf":
        encoder_source(model)  # a missing folder fails here at once, never asked of the hub
    torch_device = resolve_device(device)
    data = load_split(db_path, split)
    check_split(data, grid)
    model_name = model or "tfidf+logreg"
    workers = ddp.workers_from_env()
    torch_device = ddp.start(workers, torch_device)
    runs = []
    try:
        for seed in seeds:
            runs.append(
                _train_seed(
                    db_path,
                    data,
                    model_name,
                    config,
                    seed,
                    output,
                    len(seeds),
                    device=torch_device,
                    workers=workers,
                    progress=progress,
                    sweep=sweep,
                )
            )
    finally:
        ddp.stop(workers)
    baseline = None
    if method != "tfidf" and workers.is_main:  # seconds: the bar every model must clear
        baseline = train_tfidf(data, replace(config, grid=False), seed=0).scores["test"]
    return TrainSummary(split, method, model_name, data.classes, runs, baseline)


def _train_seed(
    db_path, data, model_name, config, seed, output, n_seeds, *, device, workers, progress, sweep
) -> RunResult:
    run_id = _run_id(data.name, config.method, seed)
    if output is None:
        folder = Path("models") / run_id
    else:
        folder = Path(output) if n_seeds == 1 else Path(output) / f"seed-{seed}"
    started = dt.datetime.now()
    params = {
        **asdict(config),
        "seed": seed,
        "device": str(device),
        "processes": workers.world_size,
    }
    show = progress and workers.is_main
    with step_bar(show, transient=True) as bar:
        if config.method == "tfidf":
            trained = train_tfidf(data, config, seed)
        else:
            trained = train_transformer(
                data,
                model_name,
                config,
                seed,
                device=device,
                workers=workers,
                progress=bar if show else None,
            )
    run = RunResult(run_id, seed, folder, params | trained.params, trained.scores, started)
    if workers.is_main:
        save_run(run, data, model_name, trained.classifier)
        run.finished = dt.datetime.now()
        record_run(
            db_path,
            run,
            split_name=data.name,
            classes=data.classes,
            model_name=model_name,
            sweep=sweep,
            split_id=data.content_id,
        )
    ddp.barrier(workers)
    return run
