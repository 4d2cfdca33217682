"""Tokenise once, batch by length, pad each batch only to its own longest sequence.

Used by training and by inference (adme/inference.py), so nothing here knows about losses or
optimisers. Tokenising happens once, before any loop: tokenising inside the model loop starves
a GPU.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch.utils.data import Dataset


def encode_texts(tokenizer, texts: Sequence[str], max_length: int) -> list[list[int]]:
    """Token ids of each text, truncated to `max_length`, unpadded (padding is per batch)."""
    if not texts:
        return []
    encoded = tokenizer(list(texts), truncation=True, max_length=max_length, padding=False)
    return [list(ids) for ids in encoded["input_ids"]]


def length_sorted_batches(lengths: Sequence[int], batch_size: int) -> list[list[int]]:
    """Indices grouped into batches of similar length, longest first.

    Similar lengths mean little padding; longest first means an out-of-memory batch fails at
    once rather than at the end.
    """
    if batch_size < 1:
        raise ValueError(f"batch_size must be at least 1, got {batch_size}")
    order = sorted(range(len(lengths)), key=lambda i: (-lengths[i], i))
    return [order[i : i + batch_size] for i in range(0, len(order), batch_size)]


def pad_batch(sequences: Sequence[Sequence[int]], pad_id: int) -> dict[str, torch.Tensor]:
    """`input_ids` and `attention_mask` padded on the right to the batch's longest sequence."""
    width = max(len(s) for s in sequences)
    input_ids = torch.full((len(sequences), width), pad_id, dtype=torch.long)
    attention_mask = torch.zeros((len(sequences), width), dtype=torch.long)
    for row, ids in enumerate(sequences):
        input_ids[row, : len(ids)] = torch.as_tensor(ids, dtype=torch.long)
        attention_mask[row, : len(ids)] = 1
    return {"input_ids": input_ids, "attention_mask": attention_mask}


class EncodedTexts(Dataset):
    """Token id lists with their class indices, as a map-style dataset for a DataLoader."""

    def __init__(self, sequences: Sequence[Sequence[int]], labels: Sequence[int]):
        if len(sequences) != len(labels):
            raise ValueError("sequences and labels differ in length")
        self.sequences = sequences
        self.labels = labels

    def __len__(self) -> int:
        return len(self.sequences)

    def __getitem__(self, index: int) -> tuple[Sequence[int], int]:
        return self.sequences[index], self.labels[index]


class PadCollator:
    """DataLoader collate function: dynamic padding plus a `labels` tensor."""

    def __init__(self, pad_id: int):
        self.pad_id = pad_id

    def __call__(self, items: Sequence[tuple[Sequence[int], int]]) -> dict[str, torch.Tensor]:
        batch = pad_batch([ids for ids, _ in items], self.pad_id)
        batch["labels"] = torch.as_tensor([label for _, label in items], dtype=torch.long)
        return batch
