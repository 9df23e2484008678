# Copyright (c) ifam_mm contributors. All rights reserved.
"""Binary AUROC over all samples and over the minority groups (SIIM-ACR)."""
from typing import Dict, Optional, Sequence

import numpy as np
from mmengine.evaluator import BaseMetric

from mmpretrain.registry import METRICS
from .utils import as_int, get_field, setting, warn


@METRICS.register_module()
class GroupAUROC(BaseMetric):
    """Binary AUROC from the positive-class score, overall and on minority
    groups.

    mmpretrain 1.2 ships no AUROC, and sklearn is not a dependency, so the
    AUROC is the Mann-Whitney statistic computed from ranks, with tied
    scores sharing their average rank (a tie counts as half a correct
    ordering, as in ``sklearn.metrics.roc_auc_score``). Values are
    percentages. Keys (``auroc/`` prefix by default):

    - ``all``: AUROC over all samples (the paper's "A-AUC").
    - ``minority``: **one** AUROC over the union of the samples in
      ``minority_groups``, the spurious-conflicting cases: on SIIM-ACR,
      pneumothorax without a chest tube and no pneumothorax with one. This
      is the paper's "WG-AUC" / "robust AUROC"; it is not a minimum over
      groups (each such group holds a single class, so a per-group AUROC
      does not exist). Only with ``minority_groups``.

    An AUROC over samples of one class only is undefined: it is NaN and a
    warning is logged, so a small validation shard never crashes a run.

    Args:
        minority_groups (Sequence[int], optional): Group ids of the
            spurious-conflicting groups; samples then need ``group_label``.
            Defaults to None: ``dataset_meta['minority_groups']``, and no
            ``minority`` key when that is absent too.
        collect_device (str): Device for gathering results across ranks,
            ``'cpu'`` or ``'gpu'``. Defaults to ``'cpu'``.
        prefix (str, optional): Key prefix. Defaults to None, which uses
            ``default_prefix = 'auroc'``.

    Examples:
        >>> from ifam_mm.evaluation import GroupAUROC
        >>> # 2 positives, 2 negatives; the 0.4 tie counts half.
        >>> round(GroupAUROC.calculate([0.9, 0.4, 0.4, 0.1], [1, 1, 0, 0]), 2)
        87.5
        >>> # With an Evaluator; SIIM groups 2 * y + tube, minority [1, 2].
        >>> import torch
        >>> from mmengine.evaluator import Evaluator
        >>> from mmpretrain.structures import DataSample
        >>> samples = []
        >>> for p, y, g in [(0.9, 1, 3), (0.4, 1, 2), (0.6, 0, 1),
        ...                 (0.1, 0, 0)]:
        ...     sample = DataSample().set_gt_label(y).set_pred_score(
        ...         torch.tensor([1 - p, p]))
        ...     sample.set_field(g, 'group_label')
        ...     samples.append(sample)
        >>> evaluator = Evaluator(GroupAUROC(minority_groups=[1, 2]))
        >>> evaluator.process(samples)
        >>> {k: round(v, 2) for k, v in evaluator.evaluate(4).items()}
        {'auroc/all': 75.0, 'auroc/minority': 0.0}
    """
    default_prefix: Optional[str] = 'auroc'

    def __init__(self,
                 minority_groups: Optional[Sequence[int]] = None,
                 collect_device: str = 'cpu',
                 prefix: Optional[str] = None) -> None:
        super().__init__(collect_device=collect_device, prefix=prefix)
        self.minority_groups = minority_groups

    def process(self, data_batch, data_samples: Sequence[dict]) -> None:
        """Record positive-class score, label and (if needed) group.

        One record per sample (never per batch): ``collect_results`` drops
        the sampler's padding by counting records.

        Args:
            data_batch: A batch of data from the dataloader (unused).
            data_samples (Sequence[dict]): Model outputs as dicts.
        """
        # dataset_meta is only known now, not at construction.
        need_groups = setting(self.minority_groups, self.dataset_meta,
                              'minority_groups') is not None
        for sample in data_samples:
            score = get_field(
                sample, 'pred_score', 'GroupAUROC', from_model=True)
            record = dict(
                score=_positive_score(score),
                gt_label=as_int(sample['gt_label'], 'gt_label'))
            if need_groups:
                record['group_label'] = as_int(
                    get_field(sample, 'group_label', 'GroupAUROC'),
                    'group_label')
            self.results.append(record)

    def compute_metrics(self, results: list) -> Dict[str, float]:
        """Compute the metrics from the gathered records.

        Args:
            results (list): Records from :meth:`process` of all ranks.

        Returns:
            Dict[str, float]: ``all`` and maybe ``minority`` (percentages).
        """
        scores = np.array([r['score'] for r in results])
        labels = np.array([r['gt_label'] for r in results])
        metrics = {'all': self.calculate(scores, labels)}
        minority = setting(self.minority_groups, self.dataset_meta,
                           'minority_groups')
        if minority is not None:
            groups = np.array([r['group_label'] for r in results])
            keep = np.isin(groups, list(minority))
            metrics['minority'] = self.calculate(scores[keep], labels[keep])
        return metrics

    @staticmethod
    def calculate(scores: Sequence[float], labels: Sequence[int]) -> float:
        """Binary AUROC in percent, ties counted as half.

        Args:
            scores (Sequence[float]): Positive-class score of each sample.
            labels (Sequence[int]): 1 for positive, 0 for negative.

        Returns:
            float: AUROC in [0, 100], or NaN (with a warning) when the
            samples do not contain both classes.
        """
        scores = np.asarray(scores, dtype=np.float64).reshape(-1)
        labels = np.asarray(labels).reshape(-1)
        if len(scores) != len(labels):
            raise ValueError(f'Got {len(scores)} scores for {len(labels)} '
                             'labels.')
        if not np.isin(labels, (0, 1)).all():
            raise ValueError('GroupAUROC is binary: labels must be 0 or 1, '
                             f'got {sorted(set(labels.tolist()))}.')
        num_pos = int(labels.sum())
        num_neg = len(labels) - num_pos
        if num_pos == 0 or num_neg == 0:
            warn(f'GroupAUROC: AUROC is undefined on {num_pos} positive and '
                 f'{num_neg} negative samples; reporting NaN.')
            return float('nan')
        # Mann-Whitney U: the positive ranks' sum, minus its minimum.
        rank_sum = _average_ranks(scores)[labels == 1].sum()
        u = rank_sum - num_pos * (num_pos + 1) / 2
        return float(100. * u / (num_pos * num_neg))


def _positive_score(pred_score) -> float:
    """Class-1 score of a 2-class softmax, or the single sigmoid score."""
    if pred_score.numel() not in (1, 2):
        raise ValueError('GroupAUROC is binary: pred_score must have 1 or 2 '
                         f'entries, got {pred_score.numel()}.')
    return float(pred_score.reshape(-1)[-1])


def _average_ranks(values: np.ndarray) -> np.ndarray:
    """1-based ranks of ``values``; tied values share their average rank."""
    _, inverse, counts = np.unique(
        values, return_inverse=True, return_counts=True)
    # Distinct value k covers ranks first..last; all get the midpoint.
    last = np.cumsum(counts)
    first = last - counts + 1
    return ((first + last) / 2.)[inverse]
