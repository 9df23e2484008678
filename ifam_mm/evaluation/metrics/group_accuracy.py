# Copyright (c) ifam_mm contributors. All rights reserved.
"""Group-robustness accuracy: per-group, worst-group and averaged accuracy."""
from typing import Dict, Mapping, Optional, Sequence, Union

import numpy as np
from mmengine.evaluator import BaseMetric

from mmpretrain.registry import METRICS
from .utils import (add_name_aliases, as_int, get_field, setting, top1_label,
                    warn)

Counts = Union[Sequence[int], Mapping[int, int]]


@METRICS.register_module()
class GroupAccuracy(BaseMetric):
    """Accuracy per group, over the worst group, and two kinds of average.

    A group is usually a (class, spurious attribute) pair, e.g. Waterbirds'
    ``group = 2 * y + place``: 0 landbird on land, 1 landbird on water,
    2 waterbird on land, 3 waterbird on water. Every data sample must carry
    an integer ``group_label``. All values are percentages, like
    mmpretrain's ``accuracy/top1``. Keys (``group/`` prefix by default):

    - ``acc_group_<g>``: accuracy on group ``g``, for each group that has
      samples (a group without samples has no key: absent, not 0). With
      ``group_names`` in ``dataset_meta``, also ``acc_group_<name>``.
    - ``worst_group_acc``: minimum of ``acc_group_<g>`` over all groups
      present (the JTT/WILDS definition).
    - ``average_acc``: accuracy over all samples.
    - ``weighted_average_acc``: per-group accuracies weighted by the
      training split's group proportions (WILDS ``adj_acc_avg``, the usual
      Waterbirds "average accuracy"). Only with ``train_group_counts``; NaN
      and a warning if a group with training weight has no test samples.
    - ``reference_worst_acc``: the iFAM reference code's "WGA": keep only the
      samples of ``minority_groups``, then take the minimum over classes of
      the accuracy per class. Only with ``minority_groups``; NaN and a
      warning if no sample is in a minority group.

    Args:
        num_groups (int, optional): Number of groups. Groups ids must lie in
            ``[0, num_groups)``, and groups without samples are logged.
            Defaults to None: the length of ``dataset_meta['group_names']``
            if present, else no check.
        train_group_counts (Sequence[int] | Mapping[int, int], optional):
            Training samples per group (list indexed by group id, or a
            dict). Defaults to None: ``dataset_meta['train_group_counts']``.
        minority_groups (Sequence[int], optional): Group ids of the
            minority (spurious-conflicting) groups. Defaults to None:
            ``dataset_meta['minority_groups']``.
        collect_device (str): Device for gathering results across ranks,
            ``'cpu'`` or ``'gpu'``. Defaults to ``'cpu'``.
        prefix (str, optional): Key prefix. Defaults to None, which uses
            ``default_prefix = 'group'``.

    Examples:
        >>> from ifam_mm.evaluation import GroupAccuracy
        >>> # Waterbirds groups: 0 land/land, 1 land/water, 2 water/land,
        >>> # 3 water/water; 2 samples each, 5 of 8 correct.
        >>> pred   = [0, 0, 0, 1, 1, 1, 0, 0]
        >>> target = [0, 0, 0, 0, 1, 1, 1, 1]
        >>> groups = [0, 0, 1, 1, 2, 2, 3, 3]
        >>> metrics = GroupAccuracy.calculate(
        ...     pred, target, groups, train_group_counts=[3498, 184, 56, 1057],
        ...     minority_groups=[1, 2])
        >>> for key, value in metrics.items():
        ...     print(key, round(value, 2))
        acc_group_0 100.0
        acc_group_1 50.0
        acc_group_2 100.0
        acc_group_3 0.0
        worst_group_acc 0.0
        average_acc 62.5
        weighted_average_acc 76.04
        reference_worst_acc 50.0
        >>> # With an Evaluator, as the Runner uses it.
        >>> import torch
        >>> from mmengine.evaluator import Evaluator
        >>> from mmpretrain.structures import DataSample
        >>> samples = []
        >>> for p, y, g in zip(pred, target, groups):
        ...     sample = DataSample().set_gt_label(y).set_pred_label(p)
        ...     sample.set_field(g, 'group_label')
        ...     samples.append(sample)
        >>> evaluator = Evaluator(GroupAccuracy())
        >>> evaluator.process(samples)
        >>> evaluator.evaluate(len(samples))['group/worst_group_acc']
        0.0
    """
    default_prefix: Optional[str] = 'group'

    def __init__(self,
                 num_groups: Optional[int] = None,
                 train_group_counts: Optional[Counts] = None,
                 minority_groups: Optional[Sequence[int]] = None,
                 collect_device: str = 'cpu',
                 prefix: Optional[str] = None) -> None:
        super().__init__(collect_device=collect_device, prefix=prefix)
        self.num_groups = num_groups
        # Checked now so that a config typo fails before a long evaluation.
        self.train_group_counts = (None if train_group_counts is None else
                                   _count_dict(train_group_counts))
        self.minority_groups = minority_groups

    def process(self, data_batch, data_samples: Sequence[dict]) -> None:
        """Record top-1 prediction, label and group of each sample.

        One record per sample (never per batch): ``collect_results`` drops
        the sampler's padding by counting records.

        Args:
            data_batch: A batch of data from the dataloader (unused).
            data_samples (Sequence[dict]): Model outputs as dicts.
        """
        for sample in data_samples:
            group = get_field(sample, 'group_label', 'GroupAccuracy')
            self.results.append(
                dict(
                    pred_label=top1_label(sample, 'GroupAccuracy'),
                    gt_label=as_int(sample['gt_label'], 'gt_label'),
                    group_label=as_int(group, 'group_label')))

    def compute_metrics(self, results: list) -> Dict[str, float]:
        """Compute the metrics from the gathered records.

        Args:
            results (list): Records from :meth:`process` of all ranks.

        Returns:
            Dict[str, float]: Metric values (percentages), without prefix.
        """
        meta = self.dataset_meta
        names = meta.get('group_names') if meta else None
        num_groups = self.num_groups
        if num_groups is None and names is not None:
            num_groups = len(names)
        groups = [r['group_label'] for r in results]
        metrics = self.calculate(
            [r['pred_label'] for r in results],
            [r['gt_label'] for r in results],
            groups,
            num_groups=num_groups,
            train_group_counts=setting(self.train_group_counts, meta,
                                       'train_group_counts'),
            minority_groups=setting(self.minority_groups, meta,
                                    'minority_groups'))
        add_name_aliases(metrics, 'acc_group', sorted(set(groups)), names)
        return metrics

    @staticmethod
    def calculate(
        pred: Sequence,
        target: Sequence,
        groups: Sequence,
        num_groups: Optional[int] = None,
        train_group_counts: Optional[Counts] = None,
        minority_groups: Optional[Sequence[int]] = None,
    ) -> Dict[str, float]:
        """Compute the metrics from predictions, labels and groups.

        Args:
            pred (Sequence): Predicted labels [N], or scores [N, C] whose
                argmax is the prediction. Tensors and arrays work.
            target (Sequence): Ground-truth labels [N].
            groups (Sequence): Group id of each sample [N].
            num_groups (int, optional): See the class docstring.
            train_group_counts (Sequence[int] | Mapping[int, int], optional):
                See the class docstring. Without it there is no
                ``weighted_average_acc``.
            minority_groups (Sequence[int], optional): See the class
                docstring. Without it there is no ``reference_worst_acc``.

        Returns:
            Dict[str, float]: The keys described in the class docstring
            (id keys only), as percentages.
        """
        pred = np.asarray(pred)
        if pred.ndim == 2:
            pred = pred.argmax(axis=1)
        target = np.asarray(target).reshape(-1)
        groups = np.asarray(groups).reshape(-1)
        if not len(pred) == len(target) == len(groups) > 0:
            raise ValueError(
                'pred, target and groups must have the same non-zero length, '
                f'got {len(pred)}, {len(target)} and {len(groups)}.')
        correct = pred.reshape(-1) == target
        present = [int(g) for g in np.unique(groups)]
        if num_groups is not None:
            _check_groups(present, num_groups)

        group_acc = {g: 100. * correct[groups == g].mean() for g in present}
        metrics = {f'acc_group_{g}': float(a) for g, a in group_acc.items()}
        metrics['worst_group_acc'] = float(min(group_acc.values()))
        metrics['average_acc'] = float(100. * correct.mean())
        if train_group_counts is not None:
            metrics['weighted_average_acc'] = _weighted_average(
                group_acc, _count_dict(train_group_counts))
        if minority_groups is not None:
            metrics['reference_worst_acc'] = _reference_worst(
                correct, target, np.isin(groups, list(minority_groups)))
        return metrics


def _count_dict(counts: Counts) -> Dict[int, int]:
    """Training counts as ``{group: count}``, validated."""
    if isinstance(counts, Mapping):
        counts = {int(g): c for g, c in counts.items()}
    else:
        counts = dict(enumerate(counts))
    if any(c < 0 for c in counts.values()) or sum(counts.values()) <= 0:
        raise ValueError('train_group_counts must be non-negative with a '
                         f'positive total, got {counts}.')
    return counts


def _check_groups(present: Sequence[int], num_groups: int) -> None:
    outside = [g for g in present if not 0 <= g < num_groups]
    if outside:
        raise ValueError(f'group_label values {outside} are outside '
                         f'[0, num_groups={num_groups}).')
    absent = sorted(set(range(num_groups)) - set(present))
    if absent:
        warn(f'GroupAccuracy: groups {absent} have no samples; they get no '
             f'acc_group key and worst_group_acc is over groups {present}.')


def _weighted_average(group_acc: Dict[int, float],
                      counts: Dict[int, int]) -> float:
    """WILDS ``adj_acc_avg``: test accuracies weighted by training shares."""
    unknown = sorted(set(group_acc) - set(counts))
    if unknown:
        raise ValueError(f'train_group_counts {counts} has no entry for the '
                         f'test groups {unknown}.')
    missing = [g for g, c in counts.items() if c > 0 and g not in group_acc]
    if missing:
        warn(f'GroupAccuracy: groups {missing} have training weight but no '
             'test samples, so weighted_average_acc is NaN.')
        return float('nan')
    total = sum(counts[g] for g in group_acc)
    return float(sum(counts[g] * a for g, a in group_acc.items()) / total)


def _reference_worst(correct: np.ndarray, target: np.ndarray,
                     minority: np.ndarray) -> float:
    """The reference's WGA: min per-class accuracy on minority samples."""
    if not minority.any():
        warn('GroupAccuracy: no sample is in minority_groups, so '
             'reference_worst_acc is NaN.')
        return float('nan')
    return float(
        min(100. * correct[minority & (target == c)].mean()
            for c in np.unique(target[minority])))
