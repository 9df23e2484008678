# Copyright (c) ifam_mm contributors. All rights reserved.
import math

import pytest
import torch

import ifam_mm  # noqa: F401
from ifam_mm.evaluation import MaskLeakMetric
from mmpretrain.registry import METRICS
from mmpretrain.structures import DataSample

DEFAULT_ARGS = dict(type='MaskLeakMetric')
NUM_TOKENS = 4


def samples(kept_counts, attrs, dtype=torch.bool):
    """One sample per (kept token count, attribute) pair."""
    out = []
    for kept, attr in zip(kept_counts, attrs):
        mask = (torch.arange(NUM_TOKENS) < kept).to(dtype)
        if dtype.is_floating_point:  # soft values on the right side of 0.5
            mask = mask * 0.4 + 0.3
        sample = DataSample().set_gt_label(0)
        sample.set_field(mask, 'pred_token_mask')
        sample.set_field(attr, 'spurious_label')
        out.append(sample.to_dict())
    return out


def evaluate(data, metric_args=None, dataset_meta=None):
    metric = METRICS.build(dict(DEFAULT_ARGS, **(metric_args or {})))
    metric.dataset_meta = dataset_meta
    for i in range(0, len(data), 3):
        metric.process(None, data[i:i + 3])
    return metric.evaluate(len(data))


# Land (0): kept 1, 1, 0, 0 of 4 tokens; water (1): 3 of 4 each time.
LEAKY = ([1, 1, 0, 0, 3, 3, 3, 3], [0, 0, 0, 0, 1, 1, 1, 1])


def test_hand_computed_leaky_mask(mm_warnings):
    assert evaluate(samples(*LEAKY)) == {
        'mask_leak/kept_frac_0': 0.125,
        'mask_leak/kept_frac_1': 0.75,
        'mask_leak/empty_rate_0': 0.5,
        'mask_leak/empty_rate_1': 0.,
        'mask_leak/kept_ratio': 6.,
        'mask_leak/attr_bacc': 100.,  # kept <= 1/4 separates them
        'mask_leak/leak_flag': 1.,
    }
    assert 'may encode the spurious attribute' in mm_warnings.text


def test_float_mask_is_kept_above_half():
    assert evaluate(samples(*LEAKY, dtype=torch.float32)) == evaluate(
        samples(*LEAKY))


def test_same_distribution_is_not_flagged(mm_warnings):
    metrics = evaluate(samples([1, 2, 3, 3, 2, 1], [0, 0, 0, 1, 1, 1]))
    assert metrics['mask_leak/kept_ratio'] == 1.
    assert metrics['mask_leak/attr_bacc'] == 50.  # ties everywhere: chance
    assert metrics['mask_leak/leak_flag'] == 0.
    assert 'may encode' not in mm_warnings.text


def test_partial_overlap_balanced_accuracy():
    # Land kept 1, 2, 2, 3; water 2, 3, 3, 4: the best threshold (kept <= 2
    # means land) gets 3/4 of land and 3/4 of water right.
    metrics = evaluate(samples([1, 2, 2, 3, 2, 3, 3, 4], [0] * 4 + [1] * 4))
    assert metrics['mask_leak/attr_bacc'] == pytest.approx(75.)
    assert metrics['mask_leak/kept_ratio'] == pytest.approx(12 / 8)


def test_most_separable_pair_of_three_values():
    # Values 0 and 1 overlap completely; 2 is separable from both.
    metrics = evaluate(samples([2, 2, 2, 2, 4, 4], [0, 1, 0, 1, 2, 2]))
    assert metrics['mask_leak/attr_bacc'] == 100.
    assert metrics['mask_leak/kept_ratio'] == 2.  # not above 2.0: no flag
    assert metrics['mask_leak/leak_flag'] == 0.


def test_empty_rate_threshold_is_strict():
    # 1 empty mask in 10 is exactly 0.10: not above the threshold.
    data = samples([0] + [2] * 19, [0] * 10 + [1] * 10)
    assert evaluate(data)['mask_leak/leak_flag'] == 0.
    assert evaluate(data, dict(empty_threshold=0.05))[
        'mask_leak/leak_flag'] == 1.


def test_all_empty_and_single_attribute(mm_warnings):
    metrics = evaluate(samples([0, 0, 0], [1, 1, 1]))
    assert math.isnan(metrics['mask_leak/kept_ratio'])
    assert math.isnan(metrics['mask_leak/attr_bacc'])
    assert metrics['mask_leak/empty_rate_1'] == 1.
    assert metrics['mask_leak/leak_flag'] == 1.
    assert 'attr_bacc needs two attribute values' in mm_warnings.text


def test_names_from_dataset_meta():
    metrics = evaluate(
        samples(*LEAKY), dataset_meta=dict(spurious_names=['land', 'water']))
    assert metrics['mask_leak/kept_frac_water'] == 0.75
    assert metrics['mask_leak/empty_rate_land'] == 0.5


def test_missing_fields_name_the_fix():
    data = samples(*LEAKY)
    del data[0]['spurious_label']
    with pytest.raises(KeyError, match=r"'spurious_label'.*PackInputs"):
        evaluate(data)
    data = samples(*LEAKY)
    del data[2]['pred_token_mask']
    with pytest.raises(KeyError, match=r"'pred_token_mask'.*predict\(\)"):
        evaluate(data)


def test_calculate_without_runner():
    metrics = MaskLeakMetric.calculate([0.5, 0.0], [0, 1])
    assert metrics['kept_ratio'] == math.inf
    assert metrics['leak_flag'] == 1.
