# Copyright (c) ifam_mm contributors. All rights reserved.
import math

import pytest
import torch

import ifam_mm  # noqa: F401
from ifam_mm.evaluation import GroupAccuracy
from mmpretrain.registry import METRICS
from mmpretrain.structures import DataSample

DEFAULT_ARGS = dict(type='GroupAccuracy')
# Waterbirds groups 2 * y + place: 0 land/land, 1 land/water, 2 water/land,
# 3 water/water, with WILDS' training counts.
TRAIN_COUNTS = [3498, 184, 56, 1057]
PRED = [0, 0, 0, 1, 1, 1, 0, 0]
TARGET = [0, 0, 0, 0, 1, 1, 1, 1]
GROUPS = [0, 0, 1, 1, 2, 2, 3, 3]


def samples(pred=PRED, target=TARGET, groups=GROUPS, scores=True):
    out = []
    for p, y, g in zip(pred, target, groups):
        sample = DataSample().set_gt_label(y)
        if scores:  # two-class softmax-like scores with argmax p
            sample.set_pred_score(torch.tensor([0.3, 0.7])[[1 - p, p]])
        else:
            sample.set_pred_label(p)
        sample.set_field(g, 'group_label')
        out.append(sample.to_dict())
    return out


def evaluate(metric_args=None, data=None, dataset_meta=None):
    metric = METRICS.build(dict(DEFAULT_ARGS, **(metric_args or {})))
    metric.dataset_meta = dataset_meta
    data = samples() if data is None else data
    for i in range(0, len(data), 3):  # batches of 3, the last one short
        metric.process(None, data[i:i + 3])
    return metric.evaluate(len(data))


def test_hand_computed_waterbirds_values():
    metrics = evaluate(
        dict(train_group_counts=TRAIN_COUNTS, minority_groups=[1, 2]))
    assert metrics == pytest.approx({
        'group/acc_group_0': 100.,
        'group/acc_group_1': 50.,
        'group/acc_group_2': 100.,
        'group/acc_group_3': 0.,
        # The majority group 3 is worst: the reference's minority-only
        # definition does not see it.
        'group/worst_group_acc': 0.,
        'group/reference_worst_acc': 50.,
        'group/average_acc': 62.5,
        'group/weighted_average_acc':
        (3498 * 100 + 184 * 50 + 56 * 100 + 1057 * 0) / 4795,
    })


def test_optional_keys_absent_without_settings():
    assert set(evaluate()) == {
        'group/acc_group_0', 'group/acc_group_1', 'group/acc_group_2',
        'group/acc_group_3', 'group/worst_group_acc', 'group/average_acc'
    }


def test_pred_label_gives_same_result_as_pred_score():
    assert evaluate(data=samples(scores=False)) == evaluate()


def test_settings_and_names_from_dataset_meta():
    names = ['landbird_land', 'landbird_water', 'waterbird_land',
             'waterbird_water']
    meta = dict(group_names=names, train_group_counts=TRAIN_COUNTS,
                minority_groups=[1, 2])
    metrics = evaluate(dataset_meta=meta)
    assert metrics['group/acc_group_waterbird_water'] == 0.
    assert metrics['group/acc_group_landbird_water'] == 50.
    assert metrics['group/reference_worst_acc'] == 50.
    assert metrics['group/weighted_average_acc'] == pytest.approx(
        364600 / 4795)


def test_constructor_settings_override_dataset_meta():
    meta = dict(train_group_counts=[1, 1, 1, 1], minority_groups=[3])
    metrics = evaluate(dict(train_group_counts=[1, 0, 0, 0],
                            minority_groups=[1]), dataset_meta=meta)
    assert metrics['group/weighted_average_acc'] == 100.  # group 0 only
    assert metrics['group/reference_worst_acc'] == 50.  # group 1 only


def test_train_counts_as_dict():
    metrics = evaluate(dict(train_group_counts={0: 1, 3: 1, 1: 0, 2: 0}))
    assert metrics['group/weighted_average_acc'] == 50.


def test_absent_group_is_not_reported_as_zero(mm_warnings):
    keep = [i for i, g in enumerate(GROUPS) if g != 3]
    data = samples(*([seq[i] for i in keep] for seq in (PRED, TARGET,
                                                        GROUPS)))
    metrics = evaluate(dict(num_groups=4), data=data)
    assert 'group/acc_group_3' not in metrics
    assert metrics['group/worst_group_acc'] == 50.  # min over 0, 1, 2
    assert 'groups [3] have no samples' in mm_warnings.text


def test_weighted_average_is_nan_when_weighted_group_absent(mm_warnings):
    data = samples(PRED[:6], TARGET[:6], GROUPS[:6])  # no group 3
    metrics = evaluate(dict(train_group_counts=TRAIN_COUNTS), data=data)
    assert math.isnan(metrics['group/weighted_average_acc'])
    assert 'weighted_average_acc is NaN' in mm_warnings.text


def test_reference_is_nan_without_minority_samples(mm_warnings):
    metrics = evaluate(dict(minority_groups=[5]))
    assert math.isnan(metrics['group/reference_worst_acc'])
    assert 'no sample is in minority_groups' in mm_warnings.text


def test_missing_group_label_names_the_fix():
    data = samples()
    del data[0]['group_label']
    with pytest.raises(KeyError, match=r"'group_label'.*PackInputs"):
        evaluate(data=data)


def test_bad_groups_and_counts_are_rejected():
    with pytest.raises(ValueError, match=r'outside \[0, num_groups=3\)'):
        evaluate(dict(num_groups=3))
    with pytest.raises(ValueError, match='non-negative'):
        METRICS.build(dict(DEFAULT_ARGS, train_group_counts=[1, -1]))
    with pytest.raises(ValueError, match=r'no entry for the test groups'):
        evaluate(dict(train_group_counts={0: 1, 1: 1}))


def test_calculate_without_runner_accepts_scores():
    scores = torch.tensor([[0.9, 0.1], [0.2, 0.8], [0.6, 0.4]])
    metrics = GroupAccuracy.calculate(scores, [0, 1, 1], [0, 1, 1])
    assert metrics == {
        'acc_group_0': 100.,
        'acc_group_1': 50.,
        'worst_group_acc': 50.,
        'average_acc': pytest.approx(200 / 3)
    }
