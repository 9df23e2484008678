# Copyright (c) ifam_mm contributors. All rights reserved.
"""Per-part quantiles of token statistics, streamed in bounded memory."""
from typing import Dict, Sequence

import torch


class PartDistanceQuantiles:
    """Streaming per-part quantiles of each token's distance to its part.

    Exact quantiles need every value (the reference keeps all tokens of the
    training split in memory); this keeps one histogram of ``bins`` counts
    per part instead, so its state is ``K x bins`` integers whatever the
    number of images. The first values of a part set its range; a later
    value outside it doubles the bin width (pairs of bins merge, the
    histogram grows towards that value) until it fits, so one pass
    suffices. Every estimate lies within **one bin width**
    (:attr:`bin_width`) of ``torch.quantile(values, q)`` (linear
    interpolation): each of the two order statistics it interpolates is
    placed inside the bin that holds it, and the extremes are exact.

    Args:
        num_parts (int): Foreground parts K; tokens assigned to index K or
            above (the background) are ignored.
        quantiles (Sequence[float]): Levels in [0, 1].
        bins (int): Histogram bins per part (even). Defaults to 4096.

    Examples:
        >>> est = PartDistanceQuantiles(2, [0.5])
        >>> est.update(torch.tensor([1., 2., 3., 9.]),
        ...            torch.tensor([0, 0, 0, 2]))
        >>> # Within one bin (8 / 4096 wide) of the exact 2; part 1 saw none.
        >>> est.compute()[0.5]
        tensor([2.0002,    nan], dtype=torch.float64)
    """

    def __init__(self,
                 num_parts: int,
                 quantiles: Sequence[float],
                 bins: int = 4096) -> None:
        if not all(0 <= q <= 1 for q in quantiles):
            raise ValueError(f'quantiles must lie in [0, 1], got '
                             f'{list(quantiles)}.')
        if bins < 2 or bins % 2:
            raise ValueError(f'bins must be an even number >= 2, got {bins}.')
        self.num_parts = num_parts
        self.quantiles = [float(q) for q in quantiles]
        self.bins = bins
        self.counts = torch.zeros(num_parts, bins, dtype=torch.long)
        self.low = torch.zeros(num_parts, dtype=torch.float64)
        # 0 until a part's first value arrives.
        self.bin_width = torch.zeros(num_parts, dtype=torch.float64)
        self.min = torch.full((num_parts, ), float('inf'), dtype=torch.float64)
        self.max = torch.full((num_parts, ), -float('inf'),
                              dtype=torch.float64)

    @property
    def num_tokens(self) -> torch.Tensor:
        """Tokens seen per part [K]."""
        return self.counts.sum(dim=1)

    def update(self, distance: torch.Tensor, assignment: torch.Tensor) -> None:
        """Add a batch of tokens.

        Args:
            distance (torch.Tensor): Each token's statistic to its assigned
                part, shaped like ``assignment``; or to every prototype,
                [B, K + 1, ...] (e.g. ``PartOutputs.distances``), from which
                the assigned one is taken.
            assignment (torch.Tensor): Each token's part (long); K and above
                are background and ignored.
        """
        if distance.dim() == assignment.dim() + 1:
            distance = distance.gather(1, assignment.unsqueeze(1)).squeeze(1)
        values = distance.detach().flatten().to('cpu', torch.float64)
        assignment = assignment.detach().flatten().cpu()
        if not torch.isfinite(values).all():
            raise ValueError('PartDistanceQuantiles got non-finite values.')
        for part in assignment.unique().tolist():
            if part < self.num_parts:
                self._add(part, values[assignment == part])

    def _add(self, part: int, values: torch.Tensor) -> None:
        low, high = values.min().item(), values.max().item()
        if self.bin_width[part] == 0:
            self.low[part] = low
            # Never zero, so that a later spread can double its way up.
            span = max(high - low, abs(low) * 1e-9, 1e-30)
            self.bin_width[part] = span / self.bins
        while high > self.low[part] + self.bin_width[part] * self.bins:
            self._double(part, upwards=True)
        while low < self.low[part]:
            self._double(part, upwards=False)
        index = ((values - self.low[part]) / self.bin_width[part]).floor()
        index = index.long().clamp(0, self.bins - 1)
        self.counts[part] += torch.bincount(index, minlength=self.bins)
        self.min[part] = min(self.min[part].item(), low)
        self.max[part] = max(self.max[part].item(), high)

    def _double(self, part: int, upwards: bool) -> None:
        """Merge bin pairs: same low end (upwards) or same high end."""
        merged = self.counts[part].view(-1, 2).sum(dim=1)
        empty = torch.zeros_like(merged)
        if upwards:
            self.counts[part] = torch.cat([merged, empty])
        else:
            self.counts[part] = torch.cat([empty, merged])
            self.low[part] -= self.bin_width[part] * self.bins
        self.bin_width[part] *= 2

    def compute(self) -> Dict[float, torch.Tensor]:
        """``{q: [K] quantiles}`` (float64); NaN for a part without
        tokens."""
        results = {}
        cumulative = self.counts.cumsum(dim=1)
        for q in self.quantiles:
            values = torch.full((self.num_parts, ), float('nan'),
                                dtype=torch.float64)
            for part in range(self.num_parts):
                total = int(cumulative[part, -1])
                if total:
                    values[part] = self._quantile(part, q, total,
                                                  cumulative[part])
            results[q] = values
        return results

    def _quantile(self, part: int, q: float, total: int,
                  cumulative: torch.Tensor) -> float:
        # torch.quantile's 'linear' rule: interpolate between the order
        # statistics around rank q * (n - 1).
        rank = q * (total - 1)
        below = int(rank)
        lower = self._order_statistic(part, below, total, cumulative)
        if below == rank:
            return lower
        upper = self._order_statistic(part, below + 1, total, cumulative)
        return lower + (rank - below) * (upper - lower)

    def _order_statistic(self, part: int, rank: int, total: int,
                         cumulative: torch.Tensor) -> float:
        """The rank-th smallest value (0-based), placed inside its bin as if
        the bin's values were evenly spread."""
        if rank == 0:
            return self.min[part].item()
        if rank == total - 1:
            return self.max[part].item()
        index = int(torch.searchsorted(cumulative, rank, right=True))
        before = int(cumulative[index - 1]) if index else 0
        inside = (rank - before + 0.5) / int(self.counts[part, index])
        value = (self.low[part] + self.bin_width[part] * (index + inside))
        return value.clamp(self.min[part], self.max[part]).item()
