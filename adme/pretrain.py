"""A small domain model built offline: WordPiece tokenizer + small BERT, masked-language trained.

The flow must run without the hub, so `adme pretrain` trains both parts on the corpus's own
paragraph texts (never headings) and saves a standard Hugging Face folder. With `model=...` it
instead continues masked-language pre-training of an existing encoder on the same texts.
"""

from __future__ import annotations

import heapq
import math
import random
import shutil
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from itertools import pairwise
from pathlib import Path

import torch
from tokenizers import normalizers, pre_tokenizers
from transformers import (
    AutoModelForMaskedLM,
    AutoTokenizer,
    BertConfig,
    BertForMaskedLM,
    BertTokenizer,
    DataCollatorForLanguageModeling,
    PreTrainedTokenizerBase,
    get_linear_schedule_with_warmup,
)

from adme import device as devices
from adme import store
from adme.checks import check_number
from adme.errors import AdmeError, UsageError, first_line
from adme.model_folder import encoder_source
from adme.progress import step_bar
from adme.wording import count

SPECIAL_TOKENS = ("[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]")
PREFIX = "##"  # marks a WordPiece that continues a word
DEFAULT_OUTPUT = Path("models/adme-bert-small")


def word_counts(texts: Iterable[str]) -> Counter[str]:
    """Lower-cased, accent-stripped BERT pre-tokens of every text, counted."""
    normalizer = normalizers.BertNormalizer(lowercase=True)
    splitter = pre_tokenizers.BertPreTokenizer()
    counts: Counter[str] = Counter()
    for text in texts:
        counts.update(word for word, _ in splitter.pre_tokenize_str(normalizer.normalize_str(text)))
    return counts


def wordpiece_vocab(counts: Counter[str], vocab_size: int, min_frequency: int) -> list[str]:
    """WordPiece vocabulary by byte-pair merges over word counts, ties broken by the pair text.

    This is the algorithm of tokenizers' WordPieceTrainer, written out because that trainer
    breaks count ties by hash-map order and gives a different vocabulary on every run
    (huggingface/tokenizers#1794); a model must be reproducible from its corpus and seed.
    """
    words = [[word[0], *(PREFIX + char for char in word[1:])] for word in sorted(counts)]
    freqs = [counts[word] for word in sorted(counts)]
    vocab = list(SPECIAL_TOKENS) + sorted({symbol for word in words for symbol in word})
    pair_counts: Counter[tuple[str, str]] = Counter()
    where: dict[tuple[str, str], set[int]] = defaultdict(set)
    for index, (word, freq) in enumerate(zip(words, freqs, strict=True)):
        for pair in pairwise(word):
            pair_counts[pair] += freq
            where[pair].add(index)
    heap = [(-n, pair) for pair, n in pair_counts.items()]
    heapq.heapify(heap)
    while len(vocab) < vocab_size and heap:
        negative, pair = heapq.heappop(heap)
        if pair_counts.get(pair, 0) != -negative:
            continue  # a stale entry: the count changed after it was pushed
        if -negative < min_frequency:
            break
        merged = pair[0] + pair[1].removeprefix(PREFIX)
        vocab.append(merged)
        changed: set[tuple[str, str]] = set()
        for index in sorted(where.pop(pair)):
            old = words[index]
            new = merge_pair(old, pair, merged)
            if new == old:
                continue
            for gone in pairwise(old):
                pair_counts[gone] -= freqs[index]
                changed.add(gone)
            for made in pairwise(new):
                pair_counts[made] += freqs[index]
                where[made].add(index)
                changed.add(made)
            words[index] = new
        pair_counts.pop(pair, None)
        for other in changed:
            if pair_counts.get(other, 0) > 0:
                heapq.heappush(heap, (-pair_counts[other], other))
    return list(dict.fromkeys(vocab))[:vocab_size]


def merge_pair(word: list[str], pair: tuple[str, str], merged: str) -> list[str]:
    """`word` with every adjacent occurrence of `pair` replaced by `merged`, left to right."""
    out, i = [], 0
    while i < len(word):
        if i + 1 < len(word) and (word[i], word[i + 1]) == pair:
            out.append(merged)
            i += 2
        else:
            out.append(word[i])
            i += 1
    return out


def train_wordpiece(
    texts: Iterable[str],
    vocab_size: int,
    *,
    min_frequency: int = 2,
    model_max_length: int = 512,
) -> BertTokenizer:
    """Train a lower-casing BERT WordPiece tokenizer on `texts` and wrap it for transformers.

    Deterministic: the same texts give the same vocabulary. The result is a standard
    `BertTokenizer` (tokenizers backend) with [PAD] [UNK] [CLS] [SEP] [MASK] set, so
    `save_pretrained` writes a folder that `AutoTokenizer.from_pretrained` loads.
    """
    if vocab_size < len(SPECIAL_TOKENS) + 1:
        raise AdmeError(f"vocab size {vocab_size} is too small for a WordPiece vocabulary")
    vocab = wordpiece_vocab(word_counts(texts), vocab_size, min_frequency)
    return BertTokenizer(
        vocab={token: i for i, token in enumerate(vocab)},
        do_lower_case=True,
        model_max_length=model_max_length,
    )


def new_bert(
    tokenizer: PreTrainedTokenizerBase,
    hidden_size: int = 256,
    num_layers: int = 4,
    num_heads: int = 4,
    intermediate_size: int | None = None,
    max_position: int = 512,
) -> BertForMaskedLM:
    """A freshly initialised BERT for masked-language modelling sized to `tokenizer`'s vocab.

    The intermediate size defaults to 4 x hidden, as in BERT. The config records the special
    token ids, so the saved folder also loads as AutoModelForSequenceClassification.
    """
    if hidden_size % num_heads:
        raise AdmeError(f"hidden size {hidden_size} is not a multiple of {num_heads} heads")
    config = BertConfig(
        vocab_size=len(tokenizer),
        hidden_size=hidden_size,
        num_hidden_layers=num_layers,
        num_attention_heads=num_heads,
        intermediate_size=intermediate_size or 4 * hidden_size,
        max_position_embeddings=max_position,
        pad_token_id=tokenizer.pad_token_id,
    )
    return BertForMaskedLM(config)


@dataclass
class PretrainSummary:
    """What a pre-training run did: corpus, steps, losses, and where the model went."""

    output: Path
    base_model: str | None  # None: tokenizer and model trained from scratch
    texts: int
    tokens: int
    vocab_size: int
    steps: int
    epochs: int
    epoch_losses: list[float] = field(default_factory=list)
    seconds: float = 0.0
    device: str = "cpu"
    corpus: str = "paragraphs"

    @property
    def final_loss(self) -> float:
        """Mean masked-language loss of the last epoch (NaN when no step ran)."""
        return self.epoch_losses[-1] if self.epoch_losses else math.nan

    def lines(self) -> list[str]:
        """Human-readable summary, one fact per line, for the CLI and the model card."""
        start = f"continued from {self.base_model}" if self.base_model else "trained from scratch"
        losses = ", ".join(f"{loss:.4f}" for loss in self.epoch_losses)
        return [
            f"model: {self.output} ({start})",
            f"corpus: {count(self.texts, f'distinct {self.corpus} text')}, "
            f"{count(self.tokens, 'token')}",
            f"vocabulary: {self.vocab_size} WordPiece tokens",
            f"steps: {self.steps} over {count(self.epochs, 'epoch')} on {self.device}"
            f" in {self.seconds:.1f} s",
            f"loss per epoch: {losses}",
            f"final loss: {self.final_loss:.4f}",
        ]


CORPORA = {"paragraphs": "queries/pretrain_texts", "sections": "queries/pretrain_texts_sections"}


def corpus_texts(
    db_path: str | Path,
    limit: int | None = None,
    exclude_split: str | None = None,
    corpus: str = "paragraphs",
) -> list[str]:
    """Every distinct stored paragraph text (never a heading), in a fixed order.

    `corpus` "sections" adds every distinct line of the labels' other sections (the `sections`
    table: about ten times the text). With `exclude_split`, that split's test texts are left
    out (for a split grouped by drug, every section of its test documents too), so the
    pre-trained model has not read the paragraphs it will later be scored on.
    """
    if corpus not in CORPORA:
        raise UsageError(f"--corpus {corpus}: unknown (choose {' or '.join(CORPORA)})")
    con = store.connect(db_path, read_only=True)
    try:
        if (
            exclude_split is not None
            and not con.execute(
                "SELECT 1 FROM splits WHERE split_name = ?", [exclude_split]
            ).fetchone()
        ):
            raise AdmeError(f"--exclude-split {exclude_split!r}: no such split (adme split)")
        if corpus == "sections":
            _check_sections_stored(con)
        con.execute("SET enable_progress_bar = false")  # the sections query takes seconds
        query = store.sql_text(CORPORA[corpus])
        rows = con.execute(query, {"exclude_split": exclude_split}).fetchall()
        texts = [row[0] for row in rows]
    finally:
        con.close()
    if not texts:
        raise AdmeError(f"{db_path}: no {corpus} to pre-train on (run `adme fetch` first)")
    return texts[:limit] if limit else texts


def _check_sections_stored(con) -> None:
    """Refuse a sections corpus missing the labels fetched without `--sections`: it would
    silently pre-train on part of the database."""
    missing, stored = con.execute(
        "SELECT count(*) FILTER (WHERE sections_found IS NULL), count(*) FROM documents"
    ).fetchone()
    if missing:
        raise AdmeError(
            f"--corpus sections: {count(missing, 'stored document')} of {stored} "
            "have no sections kept (fetched without --sections); run the same `adme fetch` "
            "again with --sections to fill them in"
        )


def load_masked_lm(model: str) -> tuple[PreTrainedTokenizerBase, torch.nn.Module]:
    """Load an encoder and its tokenizer for further MLM pre-training, from a folder or hub id.

    A path that is not a model folder, or a name neither on disk nor on the hub, is a one-line
    AdmeError rather than a transformers traceback.
    """
    source = encoder_source(model)  # a missing folder fails here, before any hub lookup
    if Path(source).is_dir() and not (Path(source) / "config.json").is_file():
        raise AdmeError(f"{model}: not a model folder (no config.json)")
    try:
        tokenizer = AutoTokenizer.from_pretrained(source)
        masked_lm = AutoModelForMaskedLM.from_pretrained(source)
    except (OSError, ValueError) as exc:
        reason = first_line(exc)
        raise AdmeError(f"{model}: cannot load as a masked-language model: {reason}") from exc
    if tokenizer.mask_token_id is None:
        raise AdmeError(f"{model}: tokenizer has no mask token, so it cannot be MLM-trained")
    return tokenizer, masked_lm


def encode(
    tokenizer: PreTrainedTokenizerBase, texts: Sequence[str], max_length: int
) -> list[dict[str, list[int]]]:
    """Tokenise every text once, truncated to `max_length` (the collator pads per batch)."""
    encoded = tokenizer(
        list(texts),
        truncation=True,
        max_length=max_length,
        return_special_tokens_mask=True,
        return_token_type_ids=False,
    )
    return [
        {"input_ids": ids, "special_tokens_mask": special}
        for ids, special in zip(encoded["input_ids"], encoded["special_tokens_mask"], strict=True)
    ]


def batches_per_epoch(examples: Sequence, batch_size: int, seed: int, epoch: int) -> list[list]:
    """Shuffle examples (seeded per epoch) and cut them into batches."""
    order = list(range(len(examples)))
    random.Random(seed * 1000 + epoch).shuffle(order)
    return [
        [examples[i] for i in order[start : start + batch_size]]
        for start in range(0, len(order), batch_size)
    ]


def train_masked_lm(
    masked_lm: torch.nn.Module,
    tokenizer: PreTrainedTokenizerBase,
    examples: Sequence[dict[str, list[int]]],
    *,
    epochs: int,
    max_steps: int | None,
    batch_size: int,
    lr: float,
    mlm_probability: float,
    seed: int,
    device: torch.device,
    progress: bool,
    on_step: Callable[[int], None] | None = None,
) -> tuple[int, list[float]]:
    """Masked-language training: AdamW, linear decay after a short warm-up, clipping at 1.0.

    `max_steps`, when given, overrides `epochs` (as in Hugging Face Trainer). `on_step(step)`
    is called after each optimiser step (checkpoints). Returns the number of optimiser steps
    taken and the mean loss of each epoch run.
    """
    collator = DataCollatorForLanguageModeling(tokenizer, mlm_probability=mlm_probability)
    steps_per_epoch = math.ceil(len(examples) / batch_size)
    total = epochs * steps_per_epoch
    if max_steps is not None:  # as in Hugging Face Trainer, --max-steps overrides the epochs
        total, epochs = max_steps, math.ceil(max_steps / steps_per_epoch)
    masked_lm.to(device).train()
    optimizer = torch.optim.AdamW(masked_lm.parameters(), lr=lr, weight_decay=0.01)
    schedule = get_linear_schedule_with_warmup(optimizer, int(0.06 * total), total)
    scaler = devices.grad_scaler(device)
    step, epoch_losses = 0, []
    bar = step_bar(progress)
    with bar:
        task = bar.add_task("pre-training", total=total)
        for epoch in range(epochs):
            losses = []
            for batch_examples in batches_per_epoch(examples, batch_size, seed, epoch):
                if step >= total:
                    break
                batch = collator(batch_examples)
                if not (batch["labels"] != -100).any():
                    continue  # nothing masked in this batch: no loss to learn from
                batch = devices.to_device(dict(batch), device)
                with devices.autocast(device):
                    loss = masked_lm(**batch).loss
                scaler.scale(loss).backward()
                scaler.unscale_(optimizer)
                torch.nn.utils.clip_grad_norm_(masked_lm.parameters(), 1.0)
                scaler.step(optimizer)
                scaler.update()
                schedule.step()
                optimizer.zero_grad(set_to_none=True)
                losses.append(loss.item())
                step += 1
                if on_step is not None:
                    on_step(step)
                bar.update(task, advance=1, description=f"epoch {epoch + 1} loss {loss.item():.3f}")
            if losses:
                epoch_losses.append(sum(losses) / len(losses))
                bar.console.print(f"epoch {epoch + 1}: mean MLM loss {epoch_losses[-1]:.4f}")
            if step >= total:
                break
    return step, epoch_losses


def model_card(summary: PretrainSummary, params: dict) -> str:
    """The README.md written beside the weights: what it was trained on and how."""
    settings = "\n".join(f"| {key} | {value} |" for key, value in params.items())
    facts = "\n".join(f"- {line}" for line in summary.lines())
    return (
        f"# {summary.output.name}\n\n"
        "A small BERT masked-language model for FDA label pharmacokinetics paragraphs, built "
        "by `adme pretrain` from the paragraph texts (never the headings) of an adme DuckDB "
        "file. Load with `AutoModelForSequenceClassification.from_pretrained` to fine-tune "
        "(`adme train --model`); the pooler and classifier head start untrained.\n\n"
        f"{facts}\n\n| setting | value |\n|---|---|\n{settings}\n"
    )


def check_output(output: Path) -> None:
    """Refuse an --output that is a file, or a folder holding something other than a model."""
    if output.exists() and not output.is_dir():
        raise AdmeError(f"{output}: is a file, not a model folder; choose another --output")
    if output.is_dir() and any(output.iterdir()) and not (output / "config.json").is_file():
        raise AdmeError(f"{output}: exists and is not a model folder; choose another --output")


def prepare_output(output: Path) -> Path:
    """Refuse to overwrite what is not a model (`check_output`); return the folder to fill."""
    check_output(output)
    staging = output.with_name(output.name + ".partial")
    if staging.exists():
        shutil.rmtree(staging)
    staging.mkdir(parents=True)
    return staging


def pretrain(
    db_path: str | Path,
    output: str | Path = DEFAULT_OUTPUT,
    *,
    model: str | None = None,
    vocab_size: int = 8000,
    hidden_size: int = 256,
    num_layers: int = 4,
    num_heads: int = 4,
    max_length: int = 128,
    epochs: int = 1,
    max_steps: int | None = None,
    batch_size: int = 32,
    lr: float = 5e-4,
    mlm_probability: float = 0.15,
    seed: int = 42,
    device: str = "auto",
    texts_limit: int | None = None,
    exclude_split: str | None = None,
    corpus: str = "paragraphs",
    checkpoint_steps: Sequence[int] = (),
    progress: bool = True,
) -> PretrainSummary:
    """Masked-language pre-train a model on the database's paragraph texts and save it.

    Without `model`: train a WordPiece tokenizer and a new small BERT. With `model` (folder or
    hub id): continue MLM training of that encoder with its own tokenizer. The folder is written
    whole or not at all (staged, then moved into place), so an interrupted run leaves the
    previous model intact.
    """
    params = dict(locals())
    params.pop("progress")
    params = {k: str(v) if isinstance(v, Path) else v for k, v in params.items()}
    _check_numbers(epochs, max_steps, batch_size, lr, mlm_probability, max_length)
    for step in checkpoint_steps:
        check_number("--checkpoint-steps", step, 1)
    if model is None:  # the shape of a new model: refused before the corpus is read
        check_number("--vocab-size", vocab_size, len(SPECIAL_TOKENS) + 1)
        if hidden_size % num_heads:
            raise UsageError(
                f"--hidden-size {hidden_size}: not a multiple of --num-heads {num_heads}"
            )
    output = Path(output)
    check_output(output)  # before any work: a wrong --output should not cost a training run
    if model is not None:
        encoder_source(model)  # likewise a missing --model folder: one line, no hub retries
    run_device = devices.resolve_device(device)
    started = time.perf_counter()
    torch.manual_seed(seed)
    texts = corpus_texts(db_path, texts_limit, exclude_split, corpus)
    if model is None:
        tokenizer = train_wordpiece(texts, vocab_size, model_max_length=max(512, max_length))
        masked_lm = new_bert(
            tokenizer, hidden_size, num_layers, num_heads, max_position=max(512, max_length)
        )
    else:
        tokenizer, masked_lm = load_masked_lm(model)
    examples = encode(tokenizer, texts, max_length)
    staging = prepare_output(output)
    wanted = set(checkpoint_steps)

    def save_checkpoint(step: int) -> None:
        if step in wanted:
            folder = staging / f"checkpoint-{step}"
            masked_lm.save_pretrained(folder)
            tokenizer.save_pretrained(folder)

    steps, epoch_losses = train_masked_lm(
        masked_lm,
        tokenizer,
        examples,
        epochs=epochs,
        max_steps=max_steps,
        batch_size=batch_size,
        lr=lr,
        mlm_probability=mlm_probability,
        seed=seed,
        device=run_device,
        progress=progress,
        on_step=save_checkpoint,
    )
    summary = PretrainSummary(
        output=output,
        base_model=model,
        texts=len(texts),
        tokens=sum(len(e["input_ids"]) for e in examples),
        vocab_size=len(tokenizer),
        steps=steps,
        epochs=len(epoch_losses),
        epoch_losses=epoch_losses,
        seconds=time.perf_counter() - started,
        device=str(run_device),
        corpus=corpus,
    )
    masked_lm.to("cpu").save_pretrained(staging)
    tokenizer.save_pretrained(staging)
    (staging / "README.md").write_text(model_card(summary, params))
    swap_in(staging, output)
    return summary


def swap_in(staging: Path, output: Path) -> None:
    """Move the finished `staging` folder to `output`, replacing the model there.

    The old model is renamed aside before the new one is renamed in and deleted only after,
    so no moment exists where a kill leaves neither (at worst it waits in `<output>.old`).
    """
    old = output.with_name(output.name + ".old")
    if old.exists():
        shutil.rmtree(old)
    if output.exists():
        output.rename(old)
    staging.rename(output)
    if old.exists():
        shutil.rmtree(old)


def _check_numbers(epochs, max_steps, batch_size, lr, mlm_probability, max_length) -> None:
    """Reject out-of-range training numbers as a usage error (exit 2) before any work."""
    check_number("--epochs", epochs, 1)
    check_number("--batch-size", batch_size, 1)
    check_number("--max-length", max_length, 8)
    if max_steps is not None:
        check_number("--max-steps", max_steps, 1)
    check_number("--mlm-probability", mlm_probability, 0, 1, low_open=True, high_open=True)
    check_number("--lr", lr, 0, low_open=True)
