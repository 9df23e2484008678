# Copyright (c) ifam_mm contributors. All rights reserved.
"""MaskLeakMetric's token coverage keys: ``cue_kept`` and ``fg_kept``."""
import math

import numpy as np
import torch

import ifam_mm  # noqa: F401
from mmpretrain.registry import METRICS
from mmpretrain.structures import DataSample

T, F = True, False


def sample(kept, attr, cue=None, fg=None, size=8):
    """A dict sample: [2, 2] ``kept`` token mask, ``size`` px pixel masks.

    ``cue`` and ``fg`` list the (row, col) pixels set in each pixel mask;
    None leaves the mask out of the sample.
    """
    out = DataSample().set_gt_label(0)
    out.set_field(torch.tensor(kept), 'pred_token_mask')
    out.set_field(attr, 'spurious_label')
    for key, pixels in (('gt_cue_mask', cue), ('gt_fg_mask', fg)):
        if pixels is not None:
            mask = np.zeros((size, size), bool)
            for row, col in pixels:
                mask[row, col] = True
            out.set_field(mask, key)
    return out.to_dict()


def evaluate(data, metric_args=None, dataset_meta=None):
    metric = METRICS.build(dict(type='MaskLeakMetric', **(metric_args or {})))
    metric.dataset_meta = dataset_meta
    for i in range(0, len(data), 2):
        metric.process(None, data[i:i + 2])
    return metric.evaluate(len(data))


def block(row, col, step=4):
    """Every pixel of token (row, col) of a 2 x 2 grid on 8 x 8 px."""
    return [(r, c) for r in range(row * step, (row + 1) * step)
            for c in range(col * step, (col + 1) * step)]


# Sample A keeps tokens (0, 0) and (1, 1). Its cue touches (0, 0) with its
# last pixel only and (0, 1) with its first: 2 cue tokens, 1 kept. The
# object fills the bottom row: 2 object tokens, 1 kept.
A = ([[T, F], [F, T]], 0, [(3, 3), (0, 4)], block(1, 0) + block(1, 1))
# Sample B keeps all but (1, 1). Its cue is one pixel of (1, 1): 1 cue
# token, none kept. The object touches (0, 0), (0, 1) and (1, 1): 3
# object tokens, 2 kept.
B = ([[T, T], [T, F]], 1, [(7, 7)], [(0, 0), (3, 7), (4, 4)])


def test_pooled_fractions_of_crafted_masks():
    metrics = evaluate([sample(*A), sample(*B)])
    # Pooled over the dataset, not the mean of the per-sample fractions
    # (0.25 for the cue, 7 / 12 for the object).
    assert metrics['mask_leak/cue_kept'] == 1 / 3
    assert metrics['mask_leak/fg_kept'] == 3 / 5
    # The existing keys are unchanged.
    assert metrics['mask_leak/kept_frac_0'] == 0.5
    assert metrics['mask_leak/kept_frac_1'] == 0.75


def test_float_token_mask_and_tensor_pixel_masks():
    data = [sample(*A), sample(*B)]
    for item in data:
        item['pred_token_mask'] = item['pred_token_mask'].float() * 0.4 + 0.3
        item['gt_cue_mask'] = torch.from_numpy(item['gt_cue_mask'])
    metrics = evaluate(data)
    assert metrics['mask_leak/cue_kept'] == 1 / 3
    assert metrics['mask_leak/fg_kept'] == 3 / 5


def test_custom_keys_and_prefix():
    data = [sample(*A), sample(*B)]
    for item in data:
        item['shortcut'] = item.pop('gt_fg_mask')  # the object as a 'cue'
    metrics = evaluate(
        data, dict(cue_key='shortcut', fg_key='gt_cue_mask', prefix='ml'))
    assert metrics['ml/cue_kept'] == 3 / 5
    assert metrics['ml/fg_kept'] == 1 / 3


def test_pixels_not_a_multiple_of_the_grid():
    # 9 px on 2 tokens: pixel rows 0-4 are token row 0, rows 5-8 row 1
    # (floor(r * 2 / 9)), as in the part-quality metrics.
    kept = [[T, F], [F, F]]
    last = sample(kept, 0, cue=[(8, 8)], fg=[(4, 4)], size=9)
    metrics = evaluate([last])
    assert metrics['mask_leak/cue_kept'] == 0.  # token (1, 1), not kept
    assert metrics['mask_leak/fg_kept'] == 1.  # token (0, 0), kept


def test_keys_omitted_unless_every_sample_has_the_mask():
    metrics = evaluate([sample(*A), sample(*B[:3])])  # B has no fg mask
    assert metrics['mask_leak/cue_kept'] == 1 / 3
    assert 'mask_leak/fg_kept' not in metrics
    metrics = evaluate([sample(*A[:2]), sample(*B[:2])])
    assert not any(key.endswith('_kept') for key in metrics)
    assert 'mask_leak/kept_ratio' in metrics


def test_no_cue_tokens_is_nan():
    metrics = evaluate([sample(A[0], 0, [], A[3]), sample(B[0], 1, [], [])])
    assert math.isnan(metrics['mask_leak/cue_kept'])
    assert metrics['mask_leak/fg_kept'] == 1 / 2


def test_names_do_not_change_the_coverage_keys():
    metrics = evaluate([sample(*A), sample(*B)],
                       dataset_meta=dict(spurious_names=('land', 'water')))
    assert metrics['mask_leak/kept_frac_water'] == 0.75
    assert metrics['mask_leak/cue_kept'] == 1 / 3
    assert sorted(k for k in metrics if k.endswith('_kept')) == [
        'mask_leak/cue_kept', 'mask_leak/fg_kept'
    ]
