# Copyright (c) ifam_mm contributors. All rights reserved.
"""Part-quality metrics: hand-computed values, edge cases, 1 vs 2 ranks."""
import math
import os
import pickle

import numpy as np
import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from mmengine.dataset import DefaultSampler

import ifam_mm  # noqa: F401
from ifam_mm.evaluation.metrics.part_quality import (ForegroundIoU,
                                                     KeypointRegression,
                                                     PartNMIARI)
from mmpretrain.registry import METRICS
from mmpretrain.structures import DataSample


def make_sample(img_shape=(4, 4), **fields):
    """A data sample dict, as the Evaluator hands it to ``process``."""
    sample = DataSample(metainfo=dict(img_shape=img_shape))
    for key, value in fields.items():
        sample.set_field(value, key)
    return sample.to_dict()


def evaluate(cfg, samples, batch_size=2, size=None):
    metric = METRICS.build(cfg)
    for i in range(0, len(samples), batch_size):
        metric.process(None, samples[i:i + batch_size])
    return metric.evaluate(size or len(samples))


def blocks(token_map, patch=2):
    """Upsample a token map to pixels, ``patch`` x ``patch`` per token."""
    return np.kron(np.asarray(token_map), np.ones((patch, patch), int))


# ---------------------------------------------------------------- fg IoU
# 4x4 pixels, 2x2 tokens. Image a: top-left token kept; the object covers
# it plus one pixel of the top-right token (1/4 < 1/2: background token).
PRED_A = [[1, 0], [0, 0]]
GT_A = [[1, 1, 1, 0], [1, 1, 0, 0], [0, 0, 0, 0], [0, 0, 0, 0]]


def test_fg_iou_perfect():
    mask = np.array([[1, 0], [1, 1]])
    result = ForegroundIoU.calculate([mask], [blocks(mask)])
    assert result == dict(
        token_pooled=100., token_mean=100., pixel_pooled=100., pixel_mean=100.)


def test_fg_iou_hand_computed_2x2():
    samples = [
        make_sample(
            pred_token_mask=torch.tensor(PRED_A, dtype=torch.bool),
            gt_fg_mask=torch.tensor(GT_A, dtype=torch.uint8)),
        # Everything kept; the object is exactly the top-left token.
        make_sample(
            pred_token_mask=torch.ones(2, 2, dtype=torch.bool),
            gt_fg_mask=torch.from_numpy(blocks(PRED_A))[None]),  # [1, H, W]
    ]
    result = evaluate(dict(type='ForegroundIoU'), samples)
    # Tokens: a 1/1, b 1/4. Pixels: a 4/5, b 4/16.
    assert result['fg_iou/token_pooled'] == pytest.approx(100 * 2 / 5)
    assert result['fg_iou/token_mean'] == pytest.approx(100 * 5 / 8)
    assert result['fg_iou/pixel_pooled'] == pytest.approx(100 * 8 / 21)
    assert result['fg_iou/pixel_mean'] == pytest.approx(100 * 21 / 40)


def test_fg_iou_token_threshold_and_soft_mask():
    # Token (0, 1) is half foreground: foreground at the default >= 0.5,
    # background at 0.75. A float mask counts as kept where > 0.5.
    gt = np.array([[1, 1, 1, 1], [1, 1, 0, 0], [0] * 4, [0] * 4])
    pred = np.array([[0.9, 0.6], [0.2, 0.5]])
    assert ForegroundIoU.calculate([pred], [gt])['token_pooled'] == 100.
    strict = ForegroundIoU.calculate([pred], [gt], fg_threshold=0.75)
    assert strict['token_pooled'] == 50.
    assert strict['pixel_pooled'] == pytest.approx(100 * 6 / 8)


def test_fg_iou_uneven_grid():
    # 5 pixels on 2 tokens: rows 0-2 go to token 0, rows 3-4 to token 1
    # (floor(r * 2 / 5)). Token 0 kept, object in rows 0-2 exactly.
    pred = np.array([[1], [0]])
    gt = np.array([[1], [1], [1], [0], [0]])
    assert ForegroundIoU.calculate([pred], [gt])['pixel_pooled'] == 100.


def test_fg_iou_empty_masks(mm_warnings):
    empty_t, empty_p = np.zeros((2, 2)), np.zeros((4, 4))
    # Both empty: undefined, left out of the mean, no effect on pooled.
    result = ForegroundIoU.calculate([PRED_A, empty_t], [GT_A, empty_p])
    assert result == pytest.approx(
        dict(
            token_pooled=100.,
            token_mean=100.,
            pixel_pooled=80.,
            pixel_mean=80.))
    # Empty object, non-empty prediction: IoU 0, and it counts.
    result = ForegroundIoU.calculate([PRED_A, PRED_A], [GT_A, empty_p])
    assert result['token_mean'] == 50.
    assert result['pixel_pooled'] == pytest.approx(100 * 4 / 9)
    # Nothing defined at all: NaN and a warning.
    result = ForegroundIoU.calculate([empty_t], [empty_p])
    assert all(math.isnan(v) for v in result.values())
    assert 'every image has an empty token' in mm_warnings.text


def test_fg_iou_errors():
    with pytest.raises(KeyError, match=r"'gt_fg_mask'.*PackInputs"):
        evaluate(
            dict(type='ForegroundIoU'),
            [make_sample(pred_token_mask=torch.ones(2, 2, dtype=bool))])
    with pytest.raises(ValueError, match='finer than'):
        ForegroundIoU.calculate([np.ones((4, 4))], [np.ones((2, 2))])
    with pytest.raises(AssertionError, match='fg_threshold'):
        ForegroundIoU(fg_threshold=0)


# ---------------------------------------------------------------- NMI/ARI
def test_nmi_ari_perfect_and_permuted():
    gt = [0, 0, 1, 1, 2, 2, 2]
    assert PartNMIARI.calculate(gt, gt) == dict(nmi=100., ari=100.)
    assert PartNMIARI.calculate(gt, [7, 7, 3, 3, 0, 0, 0]) == \
        pytest.approx(dict(nmi=100., ari=100.))
    pred = [0, 1, 1, 1, 2, 0, 2]
    base = PartNMIARI.calculate(gt, pred)
    permuted = PartNMIARI.calculate(gt, [{0: 2, 1: 0, 2: 1}[p] for p in pred])
    assert permuted == pytest.approx(base)


def test_nmi_ari_hand_computed():
    # Table [[2, 1, 0], [0, 1, 2]]: MI = 2/3 ln 2, H = ln 2 and ln 3.
    # Pairs: together 2, gt 6, pred 3, of 15: expected 18/15.
    result = PartNMIARI.calculate([0, 0, 0, 1, 1, 1], [0, 0, 1, 1, 2, 2])
    assert result['nmi'] == pytest.approx(100 * (2 / 3 * math.log(2)) /
                                          ((math.log(2) + math.log(3)) / 2))
    assert result['ari'] == pytest.approx(100 * 0.8 / 3.3)
    # Independent labellings: MI 0, and ARI below chance,
    # (0 - 2 * 2 / 6) / ((2 + 2) / 2 - 2 * 2 / 6) = -1/2.
    result = PartNMIARI.calculate([0, 0, 1, 1], [0, 1, 0, 1])
    assert result == pytest.approx(dict(nmi=0., ari=-50.))


def test_nmi_ari_single_clusters():
    assert PartNMIARI.calculate([3, 3, 3], [1, 1, 1]) == \
        dict(nmi=100., ari=100.)
    # One side unsplit: no information either way.
    assert PartNMIARI.calculate([3, 3, 3, 3], [0, 0, 1, 1]) == \
        dict(nmi=0., ari=0.)
    # All singletons on both sides: identical partitions.
    assert PartNMIARI.calculate([0, 1, 2], [5, 6, 7]) == \
        pytest.approx(dict(nmi=100., ari=100.))


def centre_mask(labels, fill):
    """A 4x4 part mask for 2x2 tokens: ``labels`` at the token centres
    (pixels 1 and 3), ``fill`` elsewhere (never read)."""
    mask = np.full((4, 4), fill)
    mask[1::2, 1::2] = labels
    return mask


def test_nmi_ari_from_part_masks():
    pred = torch.tensor([[2, 0], [1, 1]])  # 2 = background
    # SpuriousShapes' uint8 coding: 0 background, parts from 1, 255 blank.
    masks = [
        centre_mask([[1, 2], [0, 255]], fill=2),
        centre_mask([[2, 1], [1, 1]], fill=0)
    ]
    samples = [
        make_sample(
            pred_part_map=pred,
            gt_part_mask=torch.from_numpy(m.astype(np.uint8))) for m in masks
    ]
    expected = PartNMIARI.calculate([1, 2, 2, 1, 1, 1], [2, 0, 2, 0, 1, 1])
    result = evaluate(dict(type='PartNMIARI'), samples)
    assert result == {f'part_nmi_ari/{k}': v for k, v in expected.items()}
    # Part ids from 0: background -1, and 0 must count as a part.
    masks = [
        centre_mask([[0, 1], [-1, 255]], fill=1),
        centre_mask([[1, 0], [0, -1]], fill=1)
    ]
    samples = [make_sample(pred_part_map=pred, gt_part_mask=m) for m in masks]
    expected = PartNMIARI.calculate([0, 1, 1, 0, 0], [2, 0, 2, 0, 1])
    result = evaluate(
        dict(type='PartNMIARI', non_part_labels=(255, )), samples)
    assert result == {f'part_nmi_ari/{k}': v for k, v in expected.items()}


def test_nmi_ari_from_keypoints():
    pred = torch.tensor([[0, 1], [2, 2]])  # 2 = background
    keypoints = torch.tensor([
        [0.5, 0.5, 1],  # token (0, 0): part 0
        [3.9, 1.0, 1],  # token (0, 1): part 1
        [1.0, 3.0, 1],  # token (1, 0): background
        [1.0, 1.0, 0],  # invisible
        [4.0, 1.0, 1],  # outside the 4x4 image
    ])
    sample = make_sample(pred_part_map=pred, gt_keypoints=keypoints)
    result = evaluate(
        dict(type='PartNMIARI', gt_source='keypoints'), [sample, sample])
    expected = PartNMIARI.calculate([0, 1, 2, 0, 1, 2], [0, 1, 2, 0, 1, 2])
    assert result == {f'part_nmi_ari/{k}': v for k, v in expected.items()}


def test_nmi_ari_without_parts(mm_warnings):
    sample = make_sample(
        pred_part_map=torch.zeros(2, 2, dtype=torch.long),
        gt_part_mask=torch.zeros(4, 4, dtype=torch.uint8))
    result = evaluate(dict(type='PartNMIARI'), [sample])
    assert all(math.isnan(v) for v in result.values())
    assert 'no ground-truth part' in mm_warnings.text
    with pytest.raises(AssertionError, match='gt_source'):
        PartNMIARI(gt_source='parts')


# ------------------------------------------------------- keypoint regression
def test_part_centroids_absent_part():
    part_map = np.array([[0, 0, 3], [2, 3, 3]])  # 3 = background; 1 absent
    centroids = KeypointRegression.part_centroids(part_map, (4, 6), 3)
    np.testing.assert_allclose(centroids[[0, 2]], [[2., 1.], [1., 3.]])
    assert np.isnan(centroids[1]).all()
    with pytest.raises(ValueError, match=r'\[0, 2\]'):
        KeypointRegression.part_centroids(part_map, (4, 6), 2)


def linear_samples(num, rng, normalize):
    """Parts at random single tokens; keypoints affine in the centroids.

    For 'bbox', keypoints are affine combinations (weights summing to 1) of
    centroids, so the relation survives each image's box normalisation.
    Part 1 is absent from every third image, and keypoint 0 ignores it.
    """
    samples = []
    for i in range(num):
        part_map = torch.full((8, 8), 2)
        cells = rng.choice(64, size=2, replace=False)
        part_map.view(-1)[cells[0]] = 0
        if i % 3:
            part_map.view(-1)[cells[1]] = 1
        c = KeypointRegression.part_centroids(part_map.numpy(), (32, 32), 2)
        c1 = c[1] if i % 3 else c[0]  # absent: unused below
        keypoints = [c[0] + [0.25, 0.5], 0.3 * c[0] + 0.7 * c1]
        if normalize == 'bbox':
            keypoints.append(-0.5 * c[0] + 1.5 * c1)
        else:  # any affine map
            keypoints.append(0.2 * c[0][::-1] - 0.1 * c1 + 3.)
        keypoints = np.concatenate([keypoints, np.ones((3, 1))], axis=1)
        keypoints[1, 2] = i % 4 != 0  # some invisible keypoints
        if not i % 3:
            # Keypoints 1 and 2 depend on the absent part: unannotated.
            keypoints[1:, 2] = 0
        x1, y1 = rng.uniform(0, 8, size=2)
        samples.append(
            make_sample(
                img_shape=(32, 32),
                pred_part_map=part_map,
                gt_keypoints=torch.from_numpy(keypoints),
                gt_bboxes=torch.tensor([x1, y1, x1 + 20, y1 + 16])))
    return samples


@pytest.mark.parametrize('normalize', ['bbox', 'image'])
def test_keypoints_linear_in_centroids(normalize):
    samples = linear_samples(30, np.random.default_rng(0), normalize)
    cfg = dict(type='KeypointRegression', num_parts=2, normalize=normalize)
    result = evaluate(cfg, samples)
    assert result['kp/mean_error'] == pytest.approx(0, abs=1e-8)


def test_keypoints_hand_computed_split():
    # The part never moves, so each regressor predicts its fit images'
    # mean keypoint.
    centroids = np.full((4, 1, 2), 0.5)
    keypoints = np.array([[[0.1, 0.5]], [[0.2, 0.5]], [[0.3, 0.5]],
                          [[0.6, 0.5]]])
    visible = np.ones((4, 1), dtype=bool)
    # Folds {0, 2} / {1, 3}: errors |0.1-0.4|, |0.3-0.4|, |0.2-0.2|, |0.6-0.2|.
    result = KeypointRegression.calculate(
        centroids, keypoints, visible, num_folds=2)
    assert result['mean_error'] == pytest.approx(20.)
    # Fit on 0, 2 (mean 0.2); evaluate 1, 3: errors 0 and 0.4.
    result = KeypointRegression.calculate(
        centroids, keypoints, visible, fit=[True, False, True, False])
    assert result['mean_error'] == pytest.approx(20.)
    # Invisible instances are neither fitted nor scored.
    visible[3] = False
    result = KeypointRegression.calculate(
        centroids, keypoints, visible, fit=[True, False, True, False])
    assert result['mean_error'] == pytest.approx(0.)


def test_keypoints_fit_key_and_bbox_units():
    # Boxes of 4 px: a 1 px error on the evaluated image is 25 units.
    # Keypoints and boxes in mmcv's one-object shapes, [1, P, 3] and [1, 4],
    # as mmcv's Resize and CenterCrop leave them.
    part_map = torch.tensor([[0, 1], [1, 1]])
    samples = []
    for i, x in enumerate([1., 3., 2., 3.]):
        samples.append(
            make_sample(
                pred_part_map=part_map,
                gt_keypoints=torch.tensor([[[x, 1., 1.]]]),
                gt_bboxes=[[0., 0., 4., 4.]],
                is_train=i < 3))
    result = evaluate(
        dict(type='KeypointRegression', num_parts=1, fit_key='is_train'),
        samples)
    assert result['kp/mean_error'] == pytest.approx(25.)


def test_keypoints_edge_cases(mm_warnings):
    centroids = np.full((4, 1, 2), 0.5)
    keypoints = np.zeros((4, 2, 2))
    visible = np.array([[1, 0], [1, 1], [1, 0], [1, 0]], dtype=bool)
    # Keypoint 1 is visible only in image 1: its fold has nothing to fit.
    result = KeypointRegression.calculate(
        centroids, keypoints, visible, num_folds=2)
    assert result['mean_error'] == 0.
    assert 'keypoints [1] have no visible instance' in mm_warnings.text
    result = KeypointRegression.calculate(centroids, keypoints,
                                          np.zeros((4, 2), dtype=bool))
    assert math.isnan(result['mean_error'])
    sample = make_sample(
        pred_part_map=torch.zeros(2, 2, dtype=torch.long),
        gt_keypoints=torch.zeros(1, 3))
    with pytest.raises(KeyError, match="'gt_bboxes'"):
        evaluate(dict(type='KeypointRegression', num_parts=1), [sample])
    sample['gt_bboxes'] = torch.tensor([2., 0., 2., 4.])
    with pytest.raises(ValueError, match='x2 > x1'):
        evaluate(dict(type='KeypointRegression', num_parts=1), [sample])
    with pytest.raises(AssertionError, match='normalize'):
        KeypointRegression(num_parts=1, normalize='box')


# ------------------------------------------------------------ 1 vs 2 ranks
SIZE = 9  # odd: the sampler pads rank 1 with sample 0
METRIC_CFGS = [
    dict(type='ForegroundIoU'),
    dict(type='PartNMIARI'),
    dict(type='PartNMIARI', gt_source='keypoints', prefix='kp_nmi_ari'),
    dict(type='KeypointRegression', num_parts=3, num_folds=3),
]


def random_samples(size):
    """Random predictions and ground truth with every field read above."""
    gen = torch.Generator().manual_seed(0)
    samples = []
    for _ in range(size):
        part_map = torch.randint(0, 4, (4, 4), generator=gen)  # 3 = bg
        keypoints = torch.rand(5, 3, generator=gen) * 16
        keypoints[:, 2] = torch.rand(5, generator=gen) < 0.8
        samples.append(
            make_sample(
                img_shape=(16, 16),
                pred_part_map=part_map,
                pred_token_mask=part_map != 3,
                gt_fg_mask=torch.rand(16, 16, generator=gen) < 0.6,
                gt_part_mask=torch.randint(0, 4, (16, 16), generator=gen),
                gt_keypoints=keypoints,
                gt_bboxes=torch.tensor([1., 2., 15., 14.])))
    return samples


def evaluate_all(samples, size=None):
    metrics = {}
    for cfg in METRIC_CFGS:
        metrics.update(evaluate(cfg, samples, batch_size=3, size=size))
    return metrics


def _worker(rank, workdir):
    # collect_results writes each rank's records under .dist_test/ in the
    # working directory, which both ranks must share.
    os.chdir(workdir)
    torch.set_num_threads(1)
    dist.init_process_group(
        'gloo', init_method=f'file://{workdir}/init', rank=rank, world_size=2)
    samples = random_samples(SIZE)
    shard = [samples[i] for i in DefaultSampler(range(SIZE), shuffle=False)]
    metrics = evaluate_all(shard, SIZE)
    with open(f'{workdir}/rank{rank}.pkl', 'wb') as f:
        pickle.dump((len(shard), metrics), f)
    dist.destroy_process_group()


def test_two_processes_match_one(tmp_path):
    mp.spawn(_worker, args=(str(tmp_path), ), nprocs=2)
    single = evaluate_all(random_samples(SIZE))
    # The check has teeth: counting the padded sample twice changes every
    # metric.
    doubled = evaluate_all(random_samples(SIZE) + random_samples(1))
    assert {k.split('/')[0] for k in single if doubled[k] != single[k]} == \
        {'fg_iou', 'part_nmi_ari', 'kp_nmi_ari', 'kp'}
    for rank in range(2):
        with open(tmp_path / f'rank{rank}.pkl', 'rb') as f:
            shard_len, metrics = pickle.load(f)
        assert shard_len == math.ceil(SIZE / 2)
        assert metrics == single
