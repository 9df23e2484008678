# Copyright (c) ifam_mm contributors. All rights reserved.
"""Calibrate per-part token thresholds on a split (one streaming pass)."""
import copy
import logging
import os.path as osp
from typing import Iterable, List, Sequence

import torch
from mmengine.config import Config
from mmengine.logging import print_log
from mmengine.utils import track_iter_progress

from ..models.utils.token_thresholds import (prototype_fingerprint,
                                             save_token_thresholds)
from .quantiles import PartDistanceQuantiles


def estimator_levels(quantiles: Sequence[float],
                     statistic: str) -> List[float]:
    """The levels to estimate for the paper's q: the upper q-quantile of
    distances, the lower (1 - q)-quantile of dot products (docs/method.md
    "Test-time interventions")."""
    if statistic == 'distance':
        return list(quantiles)
    return [round(1 - q, 12) for q in quantiles]


def calibration_dataloader(cfg: Config, split: str) -> dict:
    """The split's dataloader config; the training split gets the test
    pipeline and no shuffling, as at test time (docs/method.md "Test-time
    interventions")."""
    loader = copy.deepcopy(cfg[f'{split}_dataloader'])
    if split == 'train':
        if 'pipeline' not in loader['dataset']:
            raise ValueError(
                'train_dataloader.dataset has no pipeline to replace with '
                "the test one (a dataset wrapper?). Calibrate on a split "
                'that has test transforms: --split val.')
        loader['dataset']['pipeline'] = copy.deepcopy(
            cfg.test_dataloader.dataset.pipeline)
        loader['sampler'] = dict(type='DefaultSampler', shuffle=False)
    return loader


@torch.no_grad()
def calibrate_token_thresholds(model: torch.nn.Module,
                               dataloader: Iterable,
                               quantiles: Sequence[float],
                               statistic: str = 'distance',
                               bins: int = 4096) -> PartDistanceQuantiles:
    """Run a split through an ``IFAMClassifier`` in eval mode.

    Memory stays flat in the number of images: each batch only updates a
    :class:`PartDistanceQuantiles`.

    Args:
        model (torch.nn.Module): An ``IFAMClassifier`` (its checkpoint
            loaded).
        dataloader (Iterable): Batches as the model's data preprocessor
            takes them (with a length, for the progress bar).
        quantiles (Sequence[float]): The paper's q values, e.g. 0.97.
        statistic (str): ``'distance'`` or ``'dot'``.
        bins (int): Histogram bins per part. Defaults to 4096.

    Returns:
        PartDistanceQuantiles: The filled estimator, at the levels of
        :func:`estimator_levels`.
    """
    model.eval()
    estimator = PartDistanceQuantiles(
        model.part_head.num_parts, estimator_levels(quantiles, statistic),
        bins)
    for batch in track_iter_progress((dataloader, len(dataloader))):
        inputs = model.data_preprocessor(batch, False)['inputs']
        values, assignment = model.token_statistics(inputs, statistic)
        estimator.update(values, assignment)
    return estimator


def write_threshold_files(estimator: PartDistanceQuantiles,
                          quantiles: Sequence[float], statistic: str,
                          out_dir: str, checkpoint: str,
                          prototypes: torch.Tensor, **extra) -> List[str]:
    """One JSON per q (``thresholds_<statistic>_q<q>.json``); warns about
    parts without tokens (threshold null: nothing removed from them)."""
    counts = estimator.num_tokens
    for part in torch.nonzero(counts == 0).flatten().tolist():
        print_log(
            f'Part {part} got no token on the calibration split: its '
            'threshold is null, so token removal leaves it alone.',
            logger='current',
            level=logging.WARNING)
    results = estimator.compute()
    paths = []
    for q, level in zip(quantiles, estimator_levels(quantiles, statistic)):
        path = osp.join(out_dir, f'thresholds_{statistic}_q{q}.json')
        save_token_thresholds(
            path,
            results[level].tolist(),
            statistic=statistic,
            quantile=q,
            checkpoint=checkpoint,
            fingerprint=prototype_fingerprint(prototypes),
            estimated_level=level,
            tokens_per_part=counts.tolist(),
            max_error=estimator.bin_width.tolist(),
            **extra)
        paths.append(path)
    return paths
