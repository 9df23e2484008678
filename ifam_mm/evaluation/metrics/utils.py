# Copyright (c) ifam_mm contributors. All rights reserved.
"""Helpers shared by the metrics: reading per-sample fields, settings, logs.

Metrics receive data samples as dicts (``DataSample.to_dict()``). Dataset
fields such as ``group_label`` only get there when the pipeline packs them,
so a missing field is almost always a config problem, and the error says so.
"""
import logging
from typing import Any, Dict, Iterable, Mapping, Optional, Sequence

import numpy as np
import torch
from mmengine.logging import print_log


def get_field(data_sample: Mapping,
              key: str,
              metric: str,
              from_model: bool = False) -> Any:
    """Return ``data_sample[key]`` or raise a KeyError that names the fix.

    Args:
        data_sample (Mapping): One data sample as a dict.
        key (str): The field to read.
        metric (str): Name of the metric that needs it, for the message.
        from_model (bool): Whether the model's ``predict()`` sets the field
            (else the dataset provides it). Defaults to False.

    Returns:
        Any: The field's value.
    """
    if key in data_sample:
        return data_sample[key]
    if from_model:
        fix = (f"The model's predict() must set it on each DataSample, e.g. "
               f"data_sample.set_field(value, '{key}').")
    else:
        fix = (f"Give every item of the dataset's data_list a {key!r} and "
               "pack it in the val/test pipeline with dict(type='PackInputs'"
               f", algorithm_keys=('{key}', ...)); a model that builds new "
               'DataSamples in predict() must copy the field across.')
    raise KeyError(f'{metric} needs the per-sample field {key!r}, but the '
                   f'data sample has only {sorted(data_sample)}. {fix}')


def as_int(value: Any, key: str) -> int:
    """Convert an int or bool, numpy scalar or one-element tensor to int.

    Args:
        value (Any): The value to convert.
        key (str): Field name, for the error message.

    Returns:
        int: The value.
    """
    array = np.asarray(value.cpu() if torch.is_tensor(value) else value)
    if array.size != 1 or not (np.issubdtype(array.dtype, np.integer)
                               or array.dtype == bool):
        raise ValueError(f'{key!r} must be one integer per sample, got '
                         f'{value!r}.')
    return int(array.reshape(-1)[0])


def top1_label(data_sample: Mapping, metric: str) -> int:
    """Top-1 prediction from ``pred_score`` (argmax), else ``pred_label``.

    Args:
        data_sample (Mapping): One data sample as a dict.
        metric (str): Name of the calling metric, for the message.

    Returns:
        int: The predicted class index.
    """
    if 'pred_score' in data_sample:
        return int(data_sample['pred_score'].argmax())
    pred_label = get_field(data_sample, 'pred_label', metric, from_model=True)
    return as_int(pred_label, 'pred_label')


def setting(value: Any, dataset_meta: Optional[dict], key: str) -> Any:
    """A constructor argument if given, else ``dataset_meta[key]``.

    ``dataset_meta`` is only set by the Runner after the metric is built,
    so settings that may come from the annotation file's ``metainfo`` are
    resolved when metrics are computed.
    """
    if value is not None or dataset_meta is None:
        return value
    return dataset_meta.get(key)


def add_name_aliases(metrics: Dict[str, float], stem: str,
                     ids: Iterable[int],
                     names: Optional[Sequence[str]]) -> None:
    """Copy each ``<stem>_<id>`` key of ``metrics`` to ``<stem>_<name>``.

    The id keys are stable for configs (``save_best``); the name keys make
    logs readable. Ids without a key (absent groups) get no alias.
    """
    if names is None:
        return
    for i in ids:
        if i >= len(names):
            raise ValueError(f'Id {i} has no name in {list(names)}.')
        if f'{stem}_{i}' in metrics:
            metrics[f'{stem}_{names[i]}'] = metrics[f'{stem}_{i}']


def warn(message: str) -> None:
    """Log a warning through mmengine's current logger (rank 0 only when
    called from ``compute_metrics``)."""
    print_log(message, logger='current', level=logging.WARNING)
