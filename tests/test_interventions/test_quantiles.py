# Copyright (c) ifam_mm contributors. All rights reserved.
import pytest
import torch

from ifam_mm.interventions import PartDistanceQuantiles

K = 3
LEVELS = [0.0, 0.01, 0.03, 0.5, 0.97, 0.99, 1.0]


def stream(estimator, batches, seed=0):
    """Feed batches whose range keeps growing, both ways; return all."""
    generator = torch.Generator().manual_seed(seed)
    values, parts = [], []
    for i in range(batches):
        value = torch.randn(500, generator=generator).exp() * (1 + i)
        if i % 7 == 3:
            value = value - 50 * i  # the low end moves too
        part = torch.randint(0, K + 1, (500, ), generator=generator)
        estimator.update(value, part)
        values.append(value)
        parts.append(part)
    return torch.cat(values).double(), torch.cat(parts)


def test_quantiles_within_one_bin_width_of_torch_quantile():
    estimator = PartDistanceQuantiles(K, LEVELS)
    values, parts = stream(estimator, 30)
    estimates = estimator.compute()
    assert torch.equal(estimator.num_tokens,
                       torch.bincount(parts, minlength=K + 1)[:K])
    for q in LEVELS:
        exact = torch.stack(
            [torch.quantile(values[parts == k], q) for k in range(K)])
        error = (estimates[q] - exact).abs()
        assert (error <= estimator.bin_width * (1 + 1e-9)).all(), q
    # The bin width is a small fraction of the range (here < 3 / 4096).
    spread = values.max() - values.min()
    assert (estimator.bin_width < 3 * spread / estimator.bins).all()
    # Extremes are exact.
    assert torch.equal(estimates[0.0], torch.stack(
        [values[parts == k].min() for k in range(K)]))


def test_state_does_not_grow_with_the_number_of_tokens():

    def state_bytes(estimator):
        return sum(v.nelement() * v.element_size()
                   for v in vars(estimator).values()
                   if isinstance(v, torch.Tensor))

    small, large = (PartDistanceQuantiles(K, [0.97], bins=1024)
                    for _ in range(2))
    stream(small, 2)
    stream(large, 100)
    assert large.num_tokens.sum() > 40 * small.num_tokens.sum()
    assert state_bytes(large) == state_bytes(small) < 40_000


def test_distances_to_every_prototype_and_absent_parts():
    estimator = PartDistanceQuantiles(K, [0.5])
    # [B, K + 1, n]: the assigned column is taken; K is the background.
    distances = torch.arange(8.).reshape(1, K + 1, 2)
    estimator.update(distances, torch.tensor([[0, K]]))
    result = estimator.compute()[0.5]
    assert result[0] == 0.0
    assert torch.isnan(result[1:]).all()  # no token: no quantile


def test_bad_arguments_are_clear_errors():
    with pytest.raises(ValueError, match=r'quantiles must lie in \[0, 1\]'):
        PartDistanceQuantiles(K, [97])
    with pytest.raises(ValueError, match='even number'):
        PartDistanceQuantiles(K, [0.5], bins=101)
    with pytest.raises(ValueError, match='non-finite'):
        PartDistanceQuantiles(K, [0.5]).update(
            torch.tensor([float('nan')]), torch.tensor([0]))
