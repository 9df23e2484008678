# Copyright (c) ifam_mm contributors. All rights reserved.
import math

import numpy as np
import pytest
import torch

import ifam_mm  # noqa: F401
from ifam_mm.evaluation import GroupAUROC
from mmpretrain.registry import METRICS
from mmpretrain.structures import DataSample

DEFAULT_ARGS = dict(type='GroupAUROC')
# SIIM-ACR groups 2 * y + tube: 0 negative/no tube, 1 negative/tube,
# 2 positive/no tube, 3 positive/tube; 1 and 2 conflict with the shortcut.
SCORES = [0.9, 0.8, 0.3, 0.5, 0.7, 0.2, 0.6, 0.1]
LABELS = [1, 1, 1, 1, 0, 0, 0, 0]
GROUPS = [3, 3, 2, 2, 1, 1, 0, 0]


def samples(scores=SCORES, labels=LABELS, groups=GROUPS, sigmoid=False):
    out = []
    for p, y, g in zip(scores, labels, groups):
        score = torch.tensor([p]) if sigmoid else torch.tensor([1 - p, p])
        sample = DataSample().set_gt_label(y).set_pred_score(score)
        sample.set_field(g, 'group_label')
        out.append(sample.to_dict())
    return out


def evaluate(metric_args=None, data=None, dataset_meta=None):
    metric = METRICS.build(dict(DEFAULT_ARGS, **(metric_args or {})))
    metric.dataset_meta = dataset_meta
    data = samples() if data is None else data
    for i in range(0, len(data), 3):
        metric.process(None, data[i:i + 3])
    return metric.evaluate(len(data))


def pairwise_auroc(scores, labels):
    """Definition: P(score_pos > score_neg) + 0.5 P(tie), in percent."""
    pos = [s for s, y in zip(scores, labels) if y == 1]
    neg = [s for s, y in zip(scores, labels) if y == 0]
    wins = sum((p > n) + 0.5 * (p == n) for p in pos for n in neg)
    return 100. * wins / (len(pos) * len(neg))


def test_hand_computed_overall_and_minority():
    metrics = evaluate(dict(minority_groups=[1, 2]))
    # All: 12 of the 16 (positive, negative) pairs are ordered correctly
    # (positives 0.3 and 0.5 are below negatives 0.7 and 0.6).
    # Minority: positives 0.3, 0.5 vs negatives 0.7, 0.2: 2 of 4 pairs.
    assert metrics == pytest.approx({
        'auroc/all': 75.,
        'auroc/minority': 50.
    })


def test_only_all_without_minority_groups_and_no_group_needed():
    data = samples()
    for sample in data:
        del sample['group_label']
    assert set(evaluate(data=data)) == {'auroc/all'}


def test_minority_groups_from_dataset_meta():
    metrics = evaluate(dataset_meta=dict(minority_groups=[1, 2]))
    assert metrics['auroc/minority'] == 50.


@pytest.mark.parametrize('scores,labels,expected', [
    ([0.9, 0.4, 0.4, 0.1], [1, 1, 0, 0], 87.5),
    ([0.5, 0.5, 0.5, 0.5], [1, 0, 1, 0], 50.),
    ([0.1, 0.2, 0.8, 0.9], [1, 1, 0, 0], 0.),
    ([0.2, 0.2, 0.2, 0.9], [0, 0, 1, 1], 75.),
])
def test_ties_count_half(scores, labels, expected):
    assert GroupAUROC.calculate(scores, labels) == pytest.approx(expected)


def test_matches_pairwise_definition_with_many_ties():
    rng = np.random.default_rng(0)
    scores = rng.integers(0, 5, size=60) / 4  # only 5 distinct values
    labels = rng.integers(0, 2, size=60)
    assert GroupAUROC.calculate(scores, labels) == pytest.approx(
        pairwise_auroc(scores, labels))


def test_single_sigmoid_score_is_the_positive_score():
    assert evaluate(data=samples(sigmoid=True)) == evaluate()


def test_one_class_gives_nan_and_warning(mm_warnings):
    metrics = evaluate(
        dict(minority_groups=[2]),  # positives only
        data=samples(labels=[1] * 8))
    assert math.isnan(metrics['auroc/all'])
    assert math.isnan(metrics['auroc/minority'])
    assert 'AUROC is undefined on 2 positive and 0 negative' in \
        mm_warnings.text


def test_bad_inputs():
    data = samples()
    del data[0]['group_label']
    with pytest.raises(KeyError, match=r"'group_label'.*PackInputs"):
        evaluate(dict(minority_groups=[1]), data=data)
    three_class = [dict(s, pred_score=torch.ones(3) / 3) for s in samples()]
    with pytest.raises(ValueError, match='pred_score must have 1 or 2'):
        evaluate(data=three_class)
    with pytest.raises(ValueError, match='labels must be 0 or 1'):
        GroupAUROC.calculate([0.1, 0.2], [0, 2])
