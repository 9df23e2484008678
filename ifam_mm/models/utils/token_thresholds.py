# Copyright (c) ifam_mm contributors. All rights reserved.
"""Per-part thresholds of the token-removal intervention: the file format.

A threshold file is JSON (parsed, never evaluated) holding ``num_parts``
(K), ``statistic``, ``thresholds`` (K numbers; ``null`` for a part without
a token on the calibration split: nothing is removed from it),
``quantile``, ``checkpoint`` and ``prototypes_sha256``, the fingerprint of
the stage-1 prototypes it was calibrated on, which is checked at test time
whatever way the checkpoint was loaded. ``tools/calibrate_thresholds.py``
writes it; docs/interventions.md explains the semantics.
"""
import hashlib
import json
import math
import os.path as osp
from typing import Optional, Sequence

import torch

# 'distance': squared distance of a token to the prototype of its part
# (the paper; upper quantile). 'dot': dot product <x, p_k> (the reference
# code; lower quantile).
STATISTICS = ('distance', 'dot')
# The test_cfg.token_threshold_mode that applies each statistic.
MODE_OF_STATISTIC = dict(distance='distance', dot='reference_dot')


def prototype_fingerprint(prototypes: torch.Tensor) -> str:
    """sha256 of the prototypes as float32 bytes (device-independent)."""
    data = prototypes.detach().to('cpu', torch.float32).contiguous()
    return hashlib.sha256(data.numpy().tobytes()).hexdigest()


def prototype_dots(tokens: torch.Tensor,
                   prototypes: torch.Tensor) -> torch.Tensor:
    """Dot products ``<x, p_k>`` [B, K + 1, h, w] of tokens [B, D, h, w]
    with every prototype, in fp32 like the head's distances."""
    with torch.autocast(tokens.device.type, enabled=False):
        return torch.einsum('bdhw,kd->bkhw', tokens.float(),
                            prototypes.float())


def save_token_thresholds(path: str, thresholds: Sequence[float],
                          statistic: str, quantile: float, checkpoint: str,
                          fingerprint: str, **extra) -> None:
    """Write a threshold file; NaN (a part without tokens) becomes null.

    Args:
        path (str): The JSON file to write.
        thresholds (Sequence[float]): K thresholds.
        statistic (str): One of :data:`STATISTICS`.
        quantile (float): The q of the paper (0.97: 3 % of a part's
            calibration tokens lie past its threshold).
        checkpoint (str): The checkpoint calibrated on.
        fingerprint (str): :func:`prototype_fingerprint` of its prototypes.
        **extra: Further fields to record (split, counts, ...).
    """
    record = dict(
        num_parts=len(thresholds),
        statistic=statistic,
        quantile=quantile,
        thresholds=[None if math.isnan(t) else float(t) for t in thresholds],
        checkpoint=checkpoint,
        prototypes_sha256=fingerprint,
        **extra)
    with open(path, 'w') as f:
        json.dump(record, f, indent=2)


def load_token_thresholds(path: str,
                          num_parts: int,
                          statistic: str = 'distance',
                          fingerprint: Optional[str] = None) -> torch.Tensor:
    """Read and check a threshold file for a model.

    Args:
        path (str): The JSON file.
        num_parts (int): K of the model it is applied to.
        statistic (str): The statistic the model's
            ``test_cfg.token_threshold_mode`` applies. Defaults to
            ``'distance'``.
        fingerprint (str, optional): :func:`prototype_fingerprint` of the
            model's prototypes; None skips the check (for tools that only
            read a file).

    Returns:
        torch.Tensor: [K] thresholds; a part without one (``null``) gets
        +inf for distances and -inf for dot products (no removal).
    """
    fix = ('Calibrate thresholds for this model with '
           'tools/calibrate_thresholds.py CONFIG CHECKPOINT, or unset '
           'test_cfg.token_thresholds.')
    if not osp.isfile(path):
        raise FileNotFoundError(f'Token-threshold file not found: {path!r}. '
                                f'{fix}')
    with open(path) as f:
        try:
            record = json.load(f)
        except json.JSONDecodeError as err:
            raise ValueError(
                f'{path} is not valid JSON ({err}). {fix}') from err
    missing = {'num_parts', 'statistic', 'thresholds', 'prototypes_sha256'
               } - set(record)
    if missing:
        raise ValueError(f'{path} lacks {sorted(missing)} (not written by '
                         f'tools/calibrate_thresholds.py?). {fix}')
    if record['num_parts'] != num_parts:
        raise ValueError(f"{path} was calibrated for K={record['num_parts']}"
                         f' parts; the model has K={num_parts}. {fix}')
    if record['statistic'] != statistic:
        mode = MODE_OF_STATISTIC.get(record['statistic'])
        switch = (f'Set test_cfg.token_threshold_mode={mode!r}, or '
                  if mode else '')
        raise ValueError(
            f"{path} holds {record['statistic']!r} thresholds; the model "
            f'applies {statistic!r} ones. {switch}calibrate with '
            f'tools/calibrate_thresholds.py --statistic {statistic}.')
    values = record['thresholds']
    if not isinstance(values, list) or len(values) != num_parts:
        raise ValueError(f'{path}: thresholds must be {num_parts} numbers '
                         f'(null for none), got {values!r}. {fix}')
    if fingerprint is not None and record['prototypes_sha256'] != fingerprint:
        raise ValueError(
            f'{path} was calibrated on checkpoint '
            f"{record.get('checkpoint')!r}, whose part prototypes differ "
            f"from this model's (sha256 {record['prototypes_sha256'][:12]}... "
            f'vs {fingerprint[:12]}...). {fix}')
    none = math.inf if statistic == 'distance' else -math.inf
    return torch.tensor([none if v is None else v for v in values],
                        dtype=torch.float32)
