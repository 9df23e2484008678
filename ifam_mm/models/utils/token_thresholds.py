# Copyright (c) ifam_mm contributors. All rights reserved.
"""Per-part distance thresholds for the token-removal intervention."""
import json
import os.path as osp

import torch

STATISTIC = 'distance'


def load_token_thresholds(path: str, num_parts: int) -> torch.Tensor:
    """Read a calibrated threshold file (JSON, parsed, never evaluated).

    The file holds ``num_parts`` (K), ``statistic`` (``'distance'``: the
    squared token-prototype distance of a token to the part it is assigned
    to) and ``thresholds`` (K numbers); ``quantile`` and ``checkpoint``
    record how it was calibrated.

    Args:
        path (str): The JSON file.
        num_parts (int): K of the model it is applied to.

    Returns:
        torch.Tensor: [K] thresholds; a token farther than its part's
        threshold becomes background.
    """
    fix = ('Calibrate thresholds for this model with '
           'tools/calibrate_thresholds.py, or unset '
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
    missing = {'num_parts', 'statistic', 'thresholds'} - set(record)
    if missing:
        raise ValueError(f'{path} lacks {sorted(missing)}. {fix}')
    if record['num_parts'] != num_parts:
        raise ValueError(f"{path} was calibrated for K={record['num_parts']}"
                         f' parts; the model has K={num_parts}. {fix}')
    if record['statistic'] != STATISTIC:
        raise ValueError(f"{path} holds {record['statistic']!r} thresholds; "
                         f'this model applies {STATISTIC!r} ones. {fix}')
    thresholds = torch.tensor(record['thresholds'], dtype=torch.float32)
    if thresholds.shape != (num_parts, ):
        raise ValueError(f'{path}: thresholds must be {num_parts} numbers, '
                         f'got shape {tuple(thresholds.shape)}. {fix}')
    return thresholds
