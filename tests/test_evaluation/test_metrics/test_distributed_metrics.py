# Copyright (c) ifam_mm contributors. All rights reserved.
"""Every metric gives the same numbers on 1 and on 2 processes.

Two gloo processes on the CPU each process the shard that mmengine's
``DefaultSampler`` gives them, padding included (the sampler repeats the
first samples so every rank gets the same count), then ``evaluate(size)``
gathers the records and drops the padding.
"""
import math
import os
import pickle

import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from mmengine.dataset import DefaultSampler

import ifam_mm  # noqa: F401
import ifam_mm.evaluation  # noqa: F401
from mmpretrain.registry import METRICS
from mmpretrain.structures import DataSample

SIZES = (11, 12)  # odd: the sampler pads rank 1 with sample 0
WORLD_SIZE = 2
METRIC_CFGS = [
    dict(type='GroupAccuracy', num_groups=4,
         train_group_counts=[40, 5, 5, 40], minority_groups=[1, 2]),
    dict(type='GroupAUROC', minority_groups=[1, 2]),
    dict(type='IN9Accuracy'),
    dict(type='MaskLeakMetric'),
]


def make_samples(size):
    """Binary predictions carrying every field the four metrics read."""
    gen = torch.Generator().manual_seed(size)
    samples = []
    for i in range(size):
        label = i % 2
        spurious = int(torch.rand(1, generator=gen) < 0.5)
        # Sample 0 is the one the sampler repeats: make it a confident
        # mistake in its own group, so counting it twice changes every
        # metric.
        score = 0.05 if i == 0 else float(torch.rand(1, generator=gen))
        sample = DataSample().set_gt_label(label).set_pred_score(
            torch.tensor([score, 1 - score]))
        sample.set_field(2 * label + spurious, 'group_label')
        sample.set_field(spurious, 'spurious_label')
        sample.set_field(('mixed_same', 'mixed_rand')[i % 3 == 0], 'variant')
        sample.set_field(
            torch.rand(6, generator=gen) < (0.2 if spurious else 0.7),
            'pred_token_mask')
        samples.append(sample.to_dict())
    return samples


def evaluate_all(samples, size):
    metrics = {}
    for cfg in METRIC_CFGS:
        metric = METRICS.build(cfg)
        for i in range(0, len(samples), 2):
            metric.process(None, samples[i:i + 2])
        metrics.update(metric.evaluate(size))
    return metrics


def _worker(rank, workdir):
    # collect_results writes each rank's records under .dist_test/ in the
    # working directory, which both ranks must share.
    os.chdir(workdir)
    torch.set_num_threads(1)
    dist.init_process_group(
        'gloo',
        init_method=f'file://{workdir}/init',
        rank=rank,
        world_size=WORLD_SIZE)
    results = {}
    for size in SIZES:
        samples = make_samples(size)
        shard = [
            samples[i] for i in DefaultSampler(range(size), shuffle=False)
        ]
        results[size] = (len(shard), evaluate_all(shard, size))
    with open(f'{workdir}/rank{rank}.pkl', 'wb') as f:
        pickle.dump(results, f)
    dist.destroy_process_group()


def assert_same(actual, expected):
    assert actual.keys() == expected.keys()
    for key, value in expected.items():
        assert (math.isnan(value) and math.isnan(actual[key])) or \
            actual[key] == value, key


def test_two_processes_match_one(tmp_path):
    mp.spawn(_worker, args=(str(tmp_path), ), nprocs=WORLD_SIZE)
    for size in SIZES:
        single = evaluate_all(make_samples(size), size)
        # The check can fail: the sample that padding repeats changes every
        # metric's result when it is counted twice.
        padded = make_samples(size) + make_samples(size)[:1]
        doubled = evaluate_all(padded, size + 1)
        differs = {k.split('/')[0] for k in single if doubled[k] != single[k]}
        assert differs == {'group', 'auroc', 'in9', 'mask_leak'}
        for rank in range(WORLD_SIZE):
            with open(tmp_path / f'rank{rank}.pkl', 'rb') as f:
                shard_len, metrics = pickle.load(f)[size]
            assert shard_len == math.ceil(size / WORLD_SIZE)
            assert_same(metrics, single)
