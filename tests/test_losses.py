"""LDAM margins, effective-number weights and the LDAM loss against numbers worked by hand."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from adme.losses import LDAMLoss, effective_number_weights, ldam_margins

# counts 100, 10, 1: n^-1/4 = 0.316228, 0.562341, 1; scaled so the largest is 0.5
HAND_MARGINS = [0.158114, 0.281171, 0.5]
# beta 0.9, counts 1, 2, 3: (1-b)/(1-b^n) = 1, 0.526316, 0.369004; sum 1.895320; x 3/sum
HAND_WEIGHTS = [1.582847, 0.833077, 0.584076]


def test_margins_follow_the_quarter_power_and_the_rarest_class_gets_max_m():
    assert ldam_margins([100, 10, 1]).tolist() == pytest.approx(HAND_MARGINS, abs=1e-6)
    assert ldam_margins([16, 1], max_m=0.3).tolist() == pytest.approx([0.15, 0.3], abs=1e-6)


def test_effective_number_weights_match_hand_numbers_and_sum_to_the_class_count():
    weights = effective_number_weights([1, 2, 3], beta=0.9)
    assert weights.tolist() == pytest.approx(HAND_WEIGHTS, abs=1e-5)
    assert float(weights.sum()) == pytest.approx(3.0)


def test_effective_number_weights_are_uniform_when_classes_are_balanced():
    assert effective_number_weights([50, 50, 50, 50]).tolist() == pytest.approx([1.0] * 4)


def test_ldam_loss_subtracts_the_margin_from_the_true_class_logit_only():
    loss = LDAMLoss([100, 10, 1], max_m=0.5, s=1.0)
    logits = torch.tensor([[2.0, 1.0, 0.0]])
    # log(e^(2-0.158114) + e^1 + e^0) - (2 - 0.158114)
    assert float(loss(logits, torch.tensor([0]))) == pytest.approx(0.463366, abs=1e-5)


def test_ldam_loss_scales_the_shifted_logits_by_s():
    loss = LDAMLoss([100, 10, 1], max_m=0.5, s=2.0)
    logits = torch.tensor([[2.0, 1.0, 0.0]])
    # log(e^(2*1.841886) + e^2 + e^0) - 2*1.841886
    assert float(loss(logits, torch.tensor([0]))) == pytest.approx(0.191282, abs=1e-5)


def test_ldam_loss_with_class_weights_is_the_weighted_mean():
    weight = torch.tensor(HAND_WEIGHTS)
    loss = LDAMLoss([100, 10, 1], max_m=0.5, s=1.0, weight=weight)
    logits = torch.tensor([[2.0, 1.0, 0.0], [0.0, 0.0, 0.0]])
    # row losses 0.463366 and log(2 + e^-0.5) + 0.5 = 1.458020, weighted by w0 and w2
    assert float(loss(logits, torch.tensor([0, 2]))) == pytest.approx(0.731467, abs=1e-5)


def test_ldam_loss_with_zero_margin_is_plain_cross_entropy():
    logits = torch.randn(6, 4, generator=torch.Generator().manual_seed(0))
    target = torch.tensor([0, 1, 2, 3, 0, 1])
    ldam = LDAMLoss([5, 5, 5, 5], max_m=0.0, s=1.0)
    assert float(ldam(logits, target)) == pytest.approx(float(F.cross_entropy(logits, target)))


def test_classes_with_no_samples_are_refused():
    with pytest.raises(ValueError, match="at least one training sample"):
        ldam_margins([10, 0, 3])
    with pytest.raises(ValueError, match="at least one training sample"):
        effective_number_weights([10, 0, 3])
