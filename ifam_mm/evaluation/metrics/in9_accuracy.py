# Copyright (c) ifam_mm contributors. All rights reserved.
"""ImageNet-9 backgrounds challenge: accuracy per variant and BG-GAP."""
from collections import defaultdict
from typing import Dict, Mapping, Optional, Sequence, Union

import mmengine
import numpy as np
from mmengine.evaluator import BaseMetric

from mmpretrain.registry import METRICS
from .utils import as_int, get_field, top1_label

IN9Mapping = Union[str, Sequence[int], Mapping[Union[int, str], int]]


@METRICS.register_module()
class IN9Accuracy(BaseMetric):
    """Top-1 accuracy per ImageNet-9 variant, and the background gap.

    The test set is the concatenation of IN-9 variants (``original``,
    ``only_fg``, ``mixed_same``, ``mixed_rand``, ...), and every data sample
    carries its ``variant`` (a string) and its IN-9 ``gt_label`` (0-8). A
    1000-class prediction is mapped to IN-9 by taking the top-1 of the
    1000 scores and looking it up in ``mapping``; classes outside the nine
    super-classes map to -1 and always count as wrong. Values are
    percentages. Keys (``in9/`` prefix by default):

    - ``acc_<variant>``: accuracy on the samples of each variant present
      (``acc_original`` is "IN-9O").
    - ``bg_gap``: ``acc_mixed_same - acc_mixed_rand``, only when both
      variants are part of the evaluation.

    Args:
        mapping (str | Sequence[int] | Mapping, optional): ImageNet class
            index to IN-9 class (or -1). A list indexed by ImageNet class, a
            dict (int or str keys; a key missing below the largest one means
            -1), or the path of a JSON file in the ``in_to_in9.json`` format
            (``{"0": -1, ..., "999": -1}``). A predicted class above the
            mapping's range is an error: the mapping does not fit the model.
            Defaults to None: the dataset's ``metainfo['in_to_in9']`` if it
            has one (``ImageNet9(class_mapping=...)``), else the model
            already predicts the nine classes.
        collect_device (str): Device for gathering results across ranks,
            ``'cpu'`` or ``'gpu'``. Defaults to ``'cpu'``.
        prefix (str, optional): Key prefix. Defaults to None, which uses
            ``default_prefix = 'in9'``.

    Examples:
        >>> from ifam_mm.evaluation import IN9Accuracy
        >>> # ImageNet classes 0-3: 1 -> IN-9 class 0, 2 -> 1, 0 and 3 -> -1.
        >>> table = IN9Accuracy.mapping_table({'1': 0, '2': 1, '3': -1})
        >>> table.tolist()
        [-1, 0, 1, -1]
        >>> pred = [1, 2, 1, 1, 3, 0]   # ImageNet top-1
        >>> target = [0, 1, 0, 1, 0, 1]  # IN-9 labels
        >>> variants = ['original'] * 2 + ['mixed_same'] * 2 + [
        ...     'mixed_rand'] * 2
        >>> metrics = IN9Accuracy.calculate(pred, target, variants, table)
        >>> for key, value in metrics.items():
        ...     print(key, value)
        acc_original 100.0
        acc_mixed_same 50.0
        acc_mixed_rand 0.0
        bg_gap 50.0
    """
    default_prefix: Optional[str] = 'in9'

    def __init__(self,
                 mapping: Optional[IN9Mapping] = None,
                 collect_device: str = 'cpu',
                 prefix: Optional[str] = None) -> None:
        super().__init__(collect_device=collect_device, prefix=prefix)
        self.table = None if mapping is None else self.mapping_table(mapping)

    def _mapping(self) -> Optional[np.ndarray]:
        """The constructor's mapping, else the dataset's ``in_to_in9``."""
        if self.table is None and 'in_to_in9' in (self.dataset_meta or {}):
            self.table = self.mapping_table(self.dataset_meta['in_to_in9'])
        return self.table

    def process(self, data_batch, data_samples: Sequence[dict]) -> None:
        """Record the IN-9 prediction, label and variant of each sample.

        The mapping is applied here so that each record is three scalars.
        One record per sample (never per batch): ``collect_results`` drops
        the sampler's padding by counting records.

        Args:
            data_batch: A batch of data from the dataloader (unused).
            data_samples (Sequence[dict]): Model outputs as dicts.
        """
        table = self._mapping()
        for sample in data_samples:
            pred = top1_label(sample, 'IN9Accuracy')
            if table is not None:
                pred = int(_map(table, np.array([pred]))[0])
            self.results.append(
                dict(
                    pred_label=pred,
                    gt_label=as_int(sample['gt_label'], 'gt_label'),
                    variant=str(get_field(sample, 'variant', 'IN9Accuracy'))))

    def compute_metrics(self, results: list) -> Dict[str, float]:
        """Compute the metrics from the gathered records.

        Args:
            results (list): Records from :meth:`process` of all ranks.

        Returns:
            Dict[str, float]: ``acc_<variant>`` and maybe ``bg_gap``.
        """
        return self.calculate([r['pred_label'] for r in results],
                              [r['gt_label'] for r in results],
                              [r['variant'] for r in results])

    @staticmethod
    def calculate(pred: Sequence,
                  target: Sequence[int],
                  variants: Sequence[str],
                  table: Optional[np.ndarray] = None) -> Dict[str, float]:
        """Accuracy per variant and BG-GAP.

        Args:
            pred (Sequence): Predicted labels [N] or scores [N, C] (argmax is
                the prediction), in ImageNet classes when ``table`` is given,
                else in IN-9 classes.
            target (Sequence[int]): IN-9 labels [N].
            variants (Sequence[str]): Variant name of each sample [N].
            table (np.ndarray, optional): From :meth:`mapping_table`.
                Defaults to None (no mapping).

        Returns:
            Dict[str, float]: ``acc_<variant>`` in order of first
            appearance, then ``bg_gap`` if both mixed variants are present.
        """
        pred = np.asarray(pred)
        if pred.ndim == 2:
            pred = pred.argmax(axis=1)
        if table is not None:
            pred = _map(table, pred)
        correct = pred.reshape(-1) == np.asarray(target).reshape(-1)
        by_variant = defaultdict(list)
        for is_correct, variant in zip(correct, variants):
            by_variant[variant].append(is_correct)
        metrics = {
            f'acc_{v}': float(100. * np.mean(c))
            for v, c in by_variant.items()
        }
        if {'acc_mixed_same', 'acc_mixed_rand'} <= metrics.keys():
            metrics['bg_gap'] = (
                metrics['acc_mixed_same'] - metrics['acc_mixed_rand'])
        return metrics

    @staticmethod
    def mapping_table(mapping: IN9Mapping) -> np.ndarray:
        """ImageNet-to-IN-9 lookup table from a list, dict or JSON path.

        Args:
            mapping (str | Sequence[int] | Mapping): See the class docstring.

        Returns:
            np.ndarray: ``table[imagenet_class]`` = IN-9 class or -1.
        """
        if isinstance(mapping, str):
            mapping = mmengine.load(mapping, file_format='json')
        if isinstance(mapping, Mapping):
            items = {int(k): int(v) for k, v in mapping.items()}
            table = np.full(max(items) + 1, -1, dtype=np.int64)
            table[list(items)] = list(items.values())
        else:
            table = np.asarray(mapping, dtype=np.int64)
        if table.ndim != 1 or not ((table >= -1) & (table <= 8)).all():
            raise ValueError('An IN-9 mapping must send each ImageNet class '
                             'to an IN-9 class 0-8 or to -1.')
        return table


def _map(table: np.ndarray, pred: np.ndarray) -> np.ndarray:
    """Look up ImageNet predictions in the IN-9 table."""
    if pred.max() >= len(table):
        raise ValueError(
            f'Predicted class {pred.max()} is outside the IN-9 mapping, '
            f'which covers classes 0-{len(table) - 1}: the mapping does not '
            "fit the model's classes.")
    return table[pred]
