# Copyright (c) ifam_mm contributors. All rights reserved.
"""NMI and ARI between predicted parts and ground-truth parts."""
from typing import Dict, Optional, Sequence

import numpy as np
from mmengine.evaluator import BaseMetric

from mmpretrain.registry import METRICS
from ..utils import get_field, warn
from .grid import (as_map, image_shape, keypoint_tokens, to_numpy,
                   token_centres)

GT_SOURCES = ('part_mask', 'keypoints')


@METRICS.register_module()
class PartNMIARI(BaseMetric):
    """Agreement of predicted part assignments with ground-truth parts.

    Each data sample carries the model's ``pred_part_map`` (int ``[h, w]``
    over the patch grid, ``K`` = background, ``0..K-1`` = parts) and ground
    truth, depending on ``gt_source``:

    - ``'part_mask'``: ``gt_part_mask``, an int ``[H, W]`` pixel map of the
      network input: a part id, or one of ``non_part_labels`` (default 0 =
      background, 255 = unlabelled; negative values too) for no part. The
      default suits SpuriousShapes (0 background, parts 1..99). Each token
      is labelled by the pixel at its centre, ``(floor((i + 0.5) * H / h),
      floor((j + 0.5) * W / w))``, and paired with its predicted label.
    - ``'keypoints'``: ``gt_keypoints``, ``[P, 3]`` rows of ``(x, y,
      visible)`` in pixel coordinates of the network input (its size is
      read from the ``img_shape`` metainfo). Each visible keypoint inside
      the image contributes one pair: its index ``p`` and the predicted
      label of the token it lies in (``floor(y * h / H), floor(x * w /
      W)``), as in the CUB protocol of docs/method.md "Evaluation protocols"

    Only ground-truth foreground enters (tokens whose centre has a part id,
    or keypoints): there is nothing to agree on in the background. The
    prediction is taken as is, so a foreground token predicted background
    forms its own cluster ``K`` and costs agreement. The pairs of the whole
    dataset form one contingency table, from which (both percentages,
    ``part_nmi_ari/`` prefix by default):

    - ``nmi``: mutual information over the arithmetic mean of the two
      entropies (scikit-learn's default normalisation);
    - ``ari``: the adjusted Rand index (Hubert and Arabie).

    Both are invariant to relabelling either side. As in scikit-learn, two
    labellings with one cluster each score 100, and a zero mutual
    information scores NMI 0. Without any pair both are NaN, with a warning.

    Args:
        gt_source (str): ``'part_mask'`` or ``'keypoints'``, the ground
            truth to compare with. Defaults to ``'part_mask'``.
        non_part_labels (Sequence[int]): Part-mask values that mean "no
            part", besides the negative ones. Defaults to ``(0, 255)``:
            background and unlabelled in uint8 masks. A dataset whose part
            ids start at 0 sets ``(255, )`` and marks background -1.
        collect_device (str): Device for gathering results across ranks,
            ``'cpu'`` or ``'gpu'``. Defaults to ``'cpu'``.
        prefix (str, optional): Key prefix. Defaults to None, which uses
            ``default_prefix = 'part_nmi_ari'``.

    Examples:
        >>> from ifam_mm.evaluation.metrics.part_quality import PartNMIARI
        >>> # Ground truth: parts 0 and 1, 3 tokens each. The prediction
        >>> # splits them into 3 parts; the middle one straddles both.
        >>> gt = [0, 0, 0, 1, 1, 1]
        >>> pred = [0, 0, 1, 1, 2, 2]
        >>> # MI = 2/3 ln 2, entropies ln 2 and ln 3. Pair counts: 2 pairs
        >>> # together in both, 6 and 3 within each side's clusters, out
        >>> # of 15: ARI = (2 - 6 * 3 / 15) / ((6 + 3) / 2 - 6 * 3 / 15).
        >>> metrics = PartNMIARI.calculate(gt, pred)
        >>> {key: round(value, 2) for key, value in metrics.items()}
        {'nmi': 51.58, 'ari': 24.24}
        >>> # Renaming the predicted parts changes nothing.
        >>> PartNMIARI.calculate(gt, [5, 5, 3, 3, 0, 0]) == metrics
        True
    """
    default_prefix: Optional[str] = 'part_nmi_ari'

    def __init__(self,
                 gt_source: str = 'part_mask',
                 non_part_labels: Sequence[int] = (0, 255),
                 collect_device: str = 'cpu',
                 prefix: Optional[str] = None) -> None:
        super().__init__(collect_device=collect_device, prefix=prefix)
        assert gt_source in GT_SOURCES, \
            f'gt_source must be one of {GT_SOURCES}, got {gt_source!r}.'
        self.gt_source = gt_source
        self.non_part_labels = tuple(non_part_labels)

    def process(self, data_batch, data_samples: Sequence[dict]) -> None:
        """Record each sample's (gt, pred, count) contingency entries.

        The dataset-wide table is the sum of the per-image tables, so a
        record stays small (at most one row per (gt, pred) pair) however
        many tokens an image has.

        Args:
            data_batch: A batch of data from the dataloader (unused).
            data_samples (Sequence[dict]): Model outputs as dicts.
        """
        for sample in data_samples:
            pred_map = as_map(
                get_field(
                    sample, 'pred_part_map', 'PartNMIARI', from_model=True),
                'pred_part_map')
            if self.gt_source == 'part_mask':
                gt, pred = self._part_mask_pairs(sample, pred_map)
            else:
                gt, pred = self._keypoint_pairs(sample, pred_map)
            pairs, counts = np.unique(
                np.stack([gt, pred], axis=1), axis=0, return_counts=True)
            self.results.append(
                np.concatenate([pairs, counts[:, None]], axis=1))

    def _part_mask_pairs(self, sample: dict, pred_map: np.ndarray) -> tuple:
        """Ground-truth part at each token centre, and the token's label."""
        part_mask = as_map(
            get_field(sample, 'gt_part_mask', 'PartNMIARI'), 'gt_part_mask')
        (h, w), (H, W) = pred_map.shape, part_mask.shape
        gt = part_mask[token_centres(H, h)[:, None],
                       token_centres(W, w)[None, :]].astype(np.int64)
        fg = (gt >= 0) & ~np.isin(gt, self.non_part_labels)
        return gt[fg], pred_map[fg].astype(np.int64)

    @staticmethod
    def _keypoint_pairs(sample: dict, pred_map: np.ndarray) -> tuple:
        """Index of each visible keypoint, and its token's label."""
        keypoints = to_numpy(get_field(sample, 'gt_keypoints', 'PartNMIARI'))
        gt, tokens = keypoint_tokens(keypoints,
                                     image_shape(sample, 'PartNMIARI'),
                                     pred_map.shape)
        return gt, pred_map[tokens[:, 0], tokens[:, 1]].astype(np.int64)

    def compute_metrics(self, results: list) -> Dict[str, float]:
        """Compute the metrics from the gathered records.

        Args:
            results (list): Records from :meth:`process` of all ranks.

        Returns:
            Dict[str, float]: Metric values (percentages), without prefix.
        """
        entries = np.concatenate(results, axis=0)
        return self.scores(
            contingency_table(entries[:, 0], entries[:, 1], entries[:, 2]))

    @staticmethod
    def scores(table: np.ndarray) -> Dict[str, float]:
        """NMI and ARI (percentages) of a contingency table.

        Args:
            table (np.ndarray): ``[G, C]`` counts, ground-truth labels in
                rows, predicted labels in columns.

        Returns:
            Dict[str, float]: ``nmi`` and ``ari``.
        """
        table = np.asarray(table, dtype=np.float64)
        if table.sum() == 0:
            warn('PartNMIARI: no ground-truth part was found in any image; '
                 'NMI and ARI are NaN.')
            return dict(nmi=float('nan'), ari=float('nan'))
        rows, cols = table.sum(axis=1), table.sum(axis=0)
        if np.count_nonzero(rows) <= 1 and np.count_nonzero(cols) <= 1:
            # One cluster on both sides: a perfect match, not 0/0.
            return dict(nmi=100., ari=100.)
        return dict(nmi=100. * _nmi(table), ari=100. * _ari(table))

    @classmethod
    def calculate(cls, gt_labels: Sequence,
                  pred_labels: Sequence) -> Dict[str, float]:
        """NMI and ARI (percentages) between two labellings.

        Args:
            gt_labels (Sequence): Ground-truth label of each point.
            pred_labels (Sequence): Predicted label of each point.

        Returns:
            Dict[str, float]: ``nmi`` and ``ari``.
        """
        gt = np.asarray(gt_labels).reshape(-1)
        pred = np.asarray(pred_labels).reshape(-1)
        if len(gt) != len(pred):
            raise ValueError('gt_labels and pred_labels must have the same '
                             f'length, got {len(gt)} and {len(pred)}.')
        return cls.scores(contingency_table(gt, pred))


def contingency_table(gt: np.ndarray,
                      pred: np.ndarray,
                      counts: Optional[np.ndarray] = None) -> np.ndarray:
    """Counts of each (gt, pred) label pair, labels in sorted order.

    Args:
        gt (np.ndarray): Ground-truth labels ``[n]``.
        pred (np.ndarray): Predicted labels ``[n]``.
        counts (np.ndarray, optional): Weight of each pair ``[n]``.
            Defaults to None: 1 each.

    Returns:
        np.ndarray: int64 ``[G, C]`` table over the labels present.
    """
    _, gt_idx = np.unique(gt, return_inverse=True)
    _, pred_idx = np.unique(pred, return_inverse=True)
    table = np.zeros(
        (gt_idx.max(initial=-1) + 1, pred_idx.max(initial=-1) + 1),
        dtype=np.int64)
    np.add.at(table, (gt_idx.reshape(-1), pred_idx.reshape(-1)),
              1 if counts is None else counts)
    return table


def _nmi(table: np.ndarray) -> float:
    """``I(U; V) / ((H(U) + H(V)) / 2)`` from a float contingency table."""
    p = table / table.sum()
    rows, cols = p.sum(axis=1), p.sum(axis=0)
    nz = p > 0
    outer = np.outer(rows, cols)
    mutual_info = float(np.sum(p[nz] * np.log(p[nz] / outer[nz])))
    if mutual_info <= 0:
        # Independent labellings; exact 0 rather than rounding noise.
        return 0.
    entropy_gt = -np.sum(rows[rows > 0] * np.log(rows[rows > 0]))
    entropy_pred = -np.sum(cols[cols > 0] * np.log(cols[cols > 0]))
    return float(mutual_info / ((entropy_gt + entropy_pred) / 2))


def _ari(table: np.ndarray) -> float:
    """Adjusted Rand index from a float contingency table (n >= 2)."""

    def pairs(x):
        return x * (x - 1) / 2

    n = table.sum()
    together = pairs(table).sum()
    gt_pairs = pairs(table.sum(axis=1)).sum()
    pred_pairs = pairs(table.sum(axis=0)).sum()
    expected = gt_pairs * pred_pairs / pairs(n)
    maximum = (gt_pairs + pred_pairs) / 2
    if maximum == expected:
        # Only when both sides are all singletons (or one cluster, handled
        # by the caller): identical partitions.
        return 1.
    return float((together - expected) / (maximum - expected))
