"""Training throughput of adme's loop against Hugging Face `Trainer`, measured in one run.

Same model (a small BERT config, the same initial weights), same paragraphs, same batch size,
max length, optimiser (AdamW, linear decay, clipping 1.0) and device; each side trains the
same number of epochs, alternating, and the best of `--repeats` timings counts. Prints
samples/s of both and their ratio (goal: adme / Trainer >= 0.9).

    python benchmarks/train_step.py --db data/adme.duckdb [--epochs 1] [--limit 2000]
"""

from __future__ import annotations

import argparse
import copy
import tempfile
import time
from pathlib import Path

import torch
from transformers import (
    BertConfig,
    BertForSequenceClassification,
    DataCollatorWithPadding,
    Trainer,
    TrainingArguments,
)
from transformers.utils import logging as hf_logging

from adme import ddp, store
from adme.batches import encode_texts
from adme.device import amp_dtype, resolve_device
from adme.train import Stage, fit, make_loader


def paragraphs(db: Path, limit: int) -> tuple[list[str], list[str]]:
    """Texts and rule labels of up to `limit` labelled paragraphs."""
    con = store.connect(db, read_only=True)
    try:
        rows = con.execute(
            "SELECT text, rule_label FROM paragraphs WHERE rule_label IS NOT NULL "
            "ORDER BY paragraph_id LIMIT ?",
            [limit],
        ).fetchall()
    finally:
        con.close()
    return [t for t, _ in rows], [label for _, label in rows]


def tokenizer_for(texts: list[str]):
    """A WordPiece tokenizer (vocabulary 8000) trained on the texts."""
    from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    raw = Tokenizer(models.WordPiece(unk_token="[UNK]"))
    raw.normalizer = normalizers.BertNormalizer(lowercase=True)
    raw.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    specials = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    raw.train_from_iterator(
        texts, trainers.WordPieceTrainer(vocab_size=8000, special_tokens=specials)
    )
    from tokenizers.processors import TemplateProcessing

    raw.post_processor = TemplateProcessing(
        single="[CLS] $A [SEP]", special_tokens=[("[CLS]", 2), ("[SEP]", 3)]
    )
    return PreTrainedTokenizerFast(
        tokenizer_object=raw,
        pad_token="[PAD]",
        unk_token="[UNK]",
        cls_token="[CLS]",
        sep_token="[SEP]",
        mask_token="[MASK]",
    )


def time_adme(model, sequences, labels, args, device) -> float:
    """Seconds for adme's fit() to train `args.epochs` epochs."""
    workers = ddp.Workers()
    loader = make_loader(
        sequences,
        labels,
        batch_size=args.batch_size,
        seed=0,
        pad_id=0,
        device=device,
        workers=workers,
    )
    stage = Stage(
        "bench", args.epochs, 5e-5, False, lambda _epoch, _epochs: torch.nn.CrossEntropyLoss()
    )
    _sync(device)
    start = time.perf_counter()
    fit(model, loader, stage, device=device, workers=workers)
    _sync(device)
    return time.perf_counter() - start


def time_trainer(model, sequences, labels, tokenizer, args, device) -> float:
    """Seconds for transformers.Trainer to train the same epochs on the same data."""
    dtype = amp_dtype(device)
    with tempfile.TemporaryDirectory() as out:
        arguments = TrainingArguments(
            output_dir=out,
            per_device_train_batch_size=args.batch_size,
            num_train_epochs=args.epochs,
            learning_rate=5e-5,
            weight_decay=0.0,
            lr_scheduler_type="linear",
            warmup_steps=0,
            max_grad_norm=1.0,
            save_strategy="no",
            report_to=[],
            logging_strategy="no",
            disable_tqdm=True,
            dataloader_num_workers=0,
            use_cpu=device.type == "cpu",
            bf16=dtype == torch.bfloat16,
            fp16=dtype == torch.float16,
        )
        dataset = [
            {"input_ids": ids, "labels": y} for ids, y in zip(sequences, labels, strict=True)
        ]
        trainer = Trainer(
            model=model,
            args=arguments,
            train_dataset=dataset,
            data_collator=DataCollatorWithPadding(tokenizer),
        )
        _sync(device)
        start = time.perf_counter()
        trainer.train()
        _sync(device)
        return time.perf_counter() - start


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", type=Path, default=Path("data/adme.duckdb"))
    parser.add_argument("--limit", type=int, default=2000, help="paragraphs to train on")
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--max-length", type=int, default=128)
    parser.add_argument("--hidden", type=int, default=256)
    parser.add_argument("--layers", type=int, default=4)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--device", default="auto")
    args = parser.parse_args()
    hf_logging.set_verbosity_error()
    device = resolve_device(args.device)
    texts, names = paragraphs(args.db, args.limit)
    classes = sorted(set(names))
    labels = [classes.index(n) for n in names]
    tokenizer = tokenizer_for(texts)
    sequences = encode_texts(tokenizer, texts, args.max_length)
    torch.manual_seed(0)
    config = BertConfig(
        vocab_size=len(tokenizer),
        hidden_size=args.hidden,
        num_hidden_layers=args.layers,
        num_attention_heads=4,
        intermediate_size=4 * args.hidden,
        num_labels=len(classes),
        max_position_embeddings=512,
    )
    initial = BertForSequenceClassification(config)
    ours, theirs = [], []
    for _ in range(args.repeats):
        ours.append(time_adme(copy.deepcopy(initial).to(device), sequences, labels, args, device))
        theirs.append(
            time_trainer(
                copy.deepcopy(initial).to(device), sequences, labels, tokenizer, args, device
            )
        )
    samples = len(sequences) * args.epochs
    adme_rate, hf_rate = samples / min(ours), samples / min(theirs)
    print(
        f"device {device}, {len(sequences)} paragraphs x {args.epochs} epoch(s), batch "
        f"{args.batch_size}, max length {args.max_length}, BERT {args.layers}x{args.hidden}"
    )
    print(
        f"adme train loop : {adme_rate:8.1f} samples/s  (best of {args.repeats}: {min(ours):.2f} s)"
    )
    print(
        f"HF Trainer      : {hf_rate:8.1f} samples/s  (best of {args.repeats}: {min(theirs):.2f} s)"
    )
    print(f"ratio adme / Trainer: {adme_rate / hf_rate:.2f}  (goal >= 0.9)")


if __name__ == "__main__":
    main()
