"""Losses for class-imbalanced fine-tuning: LDAM margins and effective-number class weights.

LDAM (Cao et al. 2019, "Learning Imbalanced Datasets with Label-Distribution-Aware Margin
Loss") gives rare classes a larger margin; the effective number of samples (Cui et al. 2019)
weights classes by how much new information another sample of them adds. Stage 1 of the
two-stage fine-tuning uses both.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from adme import ddp


def class_counts(labels: Sequence[int], num_classes: int) -> list[int]:
    """Number of samples of each class index: the counts the margins and weights below take."""
    return np.bincount(np.asarray(labels, dtype=np.int64), minlength=num_classes).tolist()


def _counts(class_counts: Sequence[int] | torch.Tensor) -> torch.Tensor:
    counts = torch.as_tensor(class_counts, dtype=torch.float64)
    if counts.ndim != 1 or len(counts) == 0:
        raise ValueError("class_counts must be a non-empty list of per-class sample counts")
    if bool((counts <= 0).any()):
        raise ValueError(f"every class needs at least one training sample, got {counts.tolist()}")
    return counts


def ldam_margins(class_counts: Sequence[int] | torch.Tensor, max_m: float = 0.5) -> torch.Tensor:
    """Per-class margins m_j = 1 / n_j^(1/4), scaled so the rarest class gets `max_m`.

    Rarer classes get larger margins, which is what lets them generalise despite few samples.
    """
    counts = _counts(class_counts)
    margins = counts.pow(-0.25)
    return (margins * (max_m / margins.max())).float()


def effective_number_weights(
    class_counts: Sequence[int] | torch.Tensor, beta: float = 0.9999
) -> torch.Tensor:
    """Class weights w_j = (1 - beta) / (1 - beta^n_j), normalised to sum to the class count.

    The effective number (1 - beta^n) / (1 - beta) grows sub-linearly with n, so duplicated or
    near-duplicate samples of a frequent class do not swamp the rare ones.
    """
    if not 0.0 <= beta < 1.0:
        raise ValueError(f"beta must be in [0, 1), got {beta}")
    counts = _counts(class_counts)
    weights = (1.0 - beta) / (1.0 - torch.pow(torch.tensor(beta, dtype=torch.float64), counts))
    return (weights * (len(counts) / weights.sum())).float()


class LDAMLoss(nn.Module):
    """Cross-entropy on logits whose true-class entry is lowered by that class's LDAM margin.

    Only the true-class logit is shifted, then all logits are scaled by `s`. With `weight`, the
    cross-entropy is class-weighted (the re-weighting of stage 1 and of DRW). Under DDP the
    weighted mean is taken over the global batch, not each process's part of it (see
    `ddp.global_weighted_mean`); the unweighted mean needs no correction, as every process
    gets batches of the same size.
    """

    def __init__(
        self,
        class_counts: Sequence[int] | torch.Tensor,
        max_m: float = 0.5,
        s: float = 1.0,
        weight: torch.Tensor | None = None,
    ):
        super().__init__()
        if s <= 0:
            raise ValueError(f"s must be positive, got {s}")
        self.s = s
        self.register_buffer("margins", ldam_margins(class_counts, max_m))
        self.register_buffer("weight", None if weight is None else weight.float())

    def forward(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """Mean (weighted) cross-entropy of the margin-shifted, scaled logits."""
        margins = self.margins.to(logits.dtype)[target]
        true_class = F.one_hot(target, num_classes=logits.shape[-1]).to(logits.dtype)
        shifted = logits - true_class * margins.unsqueeze(1)
        weight = None if self.weight is None else self.weight.to(logits.dtype)
        loss = F.cross_entropy(self.s * shifted, target, weight=weight)
        return loss if weight is None else ddp.global_weighted_mean(loss, weight[target].sum())
