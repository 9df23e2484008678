# Copyright (c) ifam_mm contributors. All rights reserved.
"""The hand-written metrics agree with scikit-learn's.

GroupAUROC against ``roc_auc_score``, PartNMIARI against
``normalized_mutual_info_score`` / ``adjusted_rand_score``, ForegroundIoU's
pooled and per-image IoUs against ``jaccard_score``; on random inputs and
on the edge cases (ties, one class, empty groups). Where the definitions
part on purpose (NMI and ARI without any pair: NaN with a warning here,
1.0 there), the test says so.
"""
import numpy as np
import pytest
import torch
from sklearn.exceptions import UndefinedMetricWarning
from sklearn.metrics import (adjusted_rand_score, jaccard_score,
                             normalized_mutual_info_score, roc_auc_score)

from ifam_mm.evaluation import GroupAUROC
from ifam_mm.evaluation.metrics.part_quality import ForegroundIoU, PartNMIARI

SEEDS = range(20)


def random_binary(rng, n):
    labels = rng.integers(0, 2, n)
    labels[:2] = [0, 1]  # both classes present
    return labels


@pytest.mark.parametrize('seed', SEEDS)
def test_auroc_matches_roc_auc_score(seed):
    rng = np.random.default_rng(seed)
    n = int(rng.integers(2, 200))
    labels = random_binary(rng, n)
    scores = rng.random(n)
    # Coarse scores: many ties, each counting half.
    for s in (scores, np.round(scores, 1), np.zeros(n)):
        assert GroupAUROC.calculate(s, labels) == pytest.approx(
            100 * roc_auc_score(labels, s), abs=1e-9)


def test_auroc_of_one_class_is_nan_as_in_sklearn(mm_warnings):
    with pytest.warns(UndefinedMetricWarning, match='Only one class'):
        assert np.isnan(roc_auc_score([1, 1, 1], [0.2, 0.5, 0.9]))
    assert np.isnan(GroupAUROC.calculate([0.2, 0.5, 0.9], [1, 1, 1]))
    assert 'undefined on 3 positive and 0 negative' in mm_warnings.text


def auroc_metric(minority_groups, scores, labels, groups):
    metric = GroupAUROC(minority_groups=minority_groups)
    metric.results = [
        dict(score=s, gt_label=y, group_label=g)
        for s, y, g in zip(scores, labels, groups)
    ]
    return metric.compute_metrics(metric.results)


@pytest.mark.parametrize('seed', SEEDS)
def test_minority_auroc_is_roc_auc_score_on_the_union(seed):
    rng = np.random.default_rng(seed)
    n = int(rng.integers(8, 100))
    groups = rng.integers(0, 4, n)
    groups[:4] = [0, 1, 2, 3]
    labels = groups // 2  # SIIM: group = 2 * y + tube
    scores = np.round(rng.random(n), 2)
    metrics = auroc_metric([1, 2], scores, labels, groups)
    keep = np.isin(groups, [1, 2])
    assert metrics['minority'] == pytest.approx(
        100 * roc_auc_score(labels[keep], scores[keep]), abs=1e-9)
    assert metrics['all'] == pytest.approx(
        100 * roc_auc_score(labels, scores), abs=1e-9)


def test_empty_minority_groups_are_nan(mm_warnings):
    metrics = auroc_metric([5], [0.1, 0.9], [0, 1], [0, 3])
    assert metrics['all'] == 100.
    assert np.isnan(metrics['minority'])
    assert 'undefined on 0 positive and 0 negative' in mm_warnings.text


def random_labelling(rng, n, k):
    return rng.integers(0, k, n) * 7 - 3  # arbitrary label values


@pytest.mark.parametrize('seed', SEEDS)
def test_nmi_ari_match_sklearn(seed):
    rng = np.random.default_rng(seed)
    n = int(rng.integers(2, 300))
    gt = random_labelling(rng, n, int(rng.integers(1, 6)))
    pred = random_labelling(rng, n, int(rng.integers(1, 10)))
    # A noisy copy too: agreement well above chance.
    noisy = np.where(rng.random(n) < 0.8, gt, pred)
    for p in (pred, noisy):
        metrics = PartNMIARI.calculate(gt, p)
        assert metrics['nmi'] == pytest.approx(
            100 * normalized_mutual_info_score(gt, p), abs=1e-8)
        assert metrics['ari'] == pytest.approx(
            100 * adjusted_rand_score(gt, p), abs=1e-8)


@pytest.mark.parametrize('gt, pred', [
    ([0, 0, 0], [1, 1, 1]),  # one cluster on both sides
    ([0, 0, 0, 0], [0, 1, 2, 3]),  # one cluster against singletons
    ([0, 1, 2, 3], [3, 2, 1, 0]),  # singletons on both sides
    ([4], [9]),  # a single point
    ([0, 0, 1, 1], [0, 1, 0, 1]),  # independent: MI 0, ARI negative
])
def test_nmi_ari_edge_cases_match_sklearn(gt, pred):
    metrics = PartNMIARI.calculate(gt, pred)
    assert metrics['nmi'] == pytest.approx(
        100 * normalized_mutual_info_score(gt, pred), abs=1e-8)
    assert metrics['ari'] == pytest.approx(
        100 * adjusted_rand_score(gt, pred), abs=1e-8)


def test_nmi_ari_without_any_pair_are_nan_where_sklearn_says_1(mm_warnings):
    assert adjusted_rand_score([], []) == 1.0
    metrics = PartNMIARI.calculate([], [])
    assert np.isnan(metrics['nmi']) and np.isnan(metrics['ari'])
    assert 'no ground-truth part' in mm_warnings.text


def test_pooled_nmi_ari_over_images_match_sklearn_on_all_tokens():
    rng = np.random.default_rng(0)
    metric = PartNMIARI(non_part_labels=(255, ))
    gts, preds = [], []
    for _ in range(5):
        # Token grid = pixel grid: each token reads its own pixel.
        gt = rng.integers(0, 4, (4, 4))
        pred = np.where(rng.random((4, 4)) < 0.7, gt, rng.integers(0, 5,
                                                                   (4, 4)))
        metric.process(None, [
            dict(
                pred_part_map=torch.from_numpy(pred),
                gt_part_mask=torch.from_numpy(gt))
        ])
        gts.append(gt.ravel())
        preds.append(pred.ravel())
    metrics = metric.compute_metrics(metric.results)
    gt, pred = np.concatenate(gts), np.concatenate(preds)
    assert metrics['nmi'] == pytest.approx(
        100 * normalized_mutual_info_score(gt, pred), abs=1e-8)
    assert metrics['ari'] == pytest.approx(
        100 * adjusted_rand_score(gt, pred), abs=1e-8)


def token_and_pixel_truth(pred, gt, patch):
    """The two levels ForegroundIoU compares, computed independently."""
    h, w = pred.shape
    gt_tokens = gt.reshape(h, patch, w, patch).mean(axis=(1, 3)) >= 0.5
    pred_pixels = np.kron(pred, np.ones((patch, patch), dtype=bool))
    return ((pred.ravel(), gt_tokens.ravel()), (pred_pixels.ravel(),
                                                 gt.ravel()))


@pytest.mark.parametrize('seed', SEEDS)
def test_foreground_ious_match_jaccard_score(seed):
    rng = np.random.default_rng(seed)
    patch, (h, w) = 2, rng.integers(1, 5, 2)
    preds, gts = [], []
    for i in range(int(rng.integers(1, 6))):
        preds.append(rng.random((h, w)) < rng.random())
        gts.append(rng.random((h * patch, w * patch)) < rng.random())
    # One image empty on both sides: undefined, out of the mean.
    preds.append(np.zeros((h, w), dtype=bool))
    gts.append(np.zeros((h * patch, w * patch), dtype=bool))
    metrics = ForegroundIoU.calculate(preds, gts)
    levels = list(
        zip(*[token_and_pixel_truth(p, g, patch) for p, g in zip(preds, gts)]))
    for level, pairs in zip(('token', 'pixel'), levels):
        pooled_pred = np.concatenate([p for p, _ in pairs])
        pooled_gt = np.concatenate([g for _, g in pairs])
        # sklearn scores an empty pair 0 (or 1); we leave it out.
        per_image = [jaccard_score(g, p) for p, g in pairs if (p | g).any()]
        if not per_image:
            assert np.isnan(metrics[f'{level}_mean'])
            continue
        assert metrics[f'{level}_pooled'] == pytest.approx(
            100 * jaccard_score(pooled_gt, pooled_pred), abs=1e-9)
        assert metrics[f'{level}_mean'] == pytest.approx(
            100 * np.mean(per_image), abs=1e-9)
