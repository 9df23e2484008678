# Copyright (c) ifam_mm contributors. All rights reserved.
import json
import weakref

import pytest
import torch
from mmengine.config import Config

import ifam_mm  # noqa: F401
from ifam_mm.interventions.calibration import (calibrate_token_thresholds,
                                               calibration_dataloader,
                                               write_threshold_files)
from ifam_mm.models.utils.token_thresholds import (load_token_thresholds,
                                                   prototype_fingerprint)
from mmpretrain.registry import MODELS
from mmpretrain.structures import DataSample

K, D = 2, 32
MODEL = dict(
    type='IFAMClassifier',
    backbone=dict(
        type='HardMaskViT',
        arch='vit_small_patch14_reg4_dinov2',
        img_size=56,
        patch_size=8,
        embed_dim=D,
        depth=1,
        num_heads=2),
    part_head=dict(
        type='PDiscoFormerHead', num_classes=3, in_channels=D, num_parts=K),
    head=dict(type='MaskedClsHead', num_classes=3, in_channels=D))


def build():
    torch.manual_seed(0)
    return MODELS.build(MODEL)


def batches(count, size=2):
    generator = torch.Generator().manual_seed(0)
    return [
        dict(
            inputs=[
                torch.randint(0, 256, (3, 56, 56), dtype=torch.uint8,
                              generator=generator) for _ in range(size)
            ],
            data_samples=[DataSample() for _ in range(size)])
        for _ in range(count)
    ]


def matched(model, loader, statistic):
    """Every token's statistic to its part, per part (exact reference)."""
    values, parts = [], []
    with torch.no_grad():
        for batch in loader:
            inputs = model.data_preprocessor(batch, False)['inputs']
            value, part = model.token_statistics(inputs, statistic)
            values.append(value.gather(1, part[:, None])[:, 0].flatten())
            parts.append(part.flatten())
    values, parts = torch.cat(values).double(), torch.cat(parts)
    return [values[parts == k] for k in range(K)]


def test_thresholds_are_the_quantiles_of_each_parts_tokens(tmp_path):
    model, loader = build(), batches(3)
    for statistic, level in (('distance', 0.9), ('dot', 0.1)):
        estimator = calibrate_token_thresholds(model, loader, [0.9],
                                               statistic)
        path, = write_threshold_files(estimator, [0.9], statistic,
                                      str(tmp_path), 'ckpt.pth',
                                      model.part_head.prototypes)
        assert path.endswith(f'thresholds_{statistic}_q0.9.json')
        record = json.loads(open(path).read())
        assert record['quantile'] == 0.9
        assert record['estimated_level'] == level  # dot: the lower tail
        assert record['prototypes_sha256'] == prototype_fingerprint(
            model.part_head.prototypes)
        for k, values in enumerate(matched(model, loader, statistic)):
            assert record['tokens_per_part'][k] == len(values) > 0
            exact = torch.quantile(values, level).item()
            assert abs(record['thresholds'][k] - exact) <= (
                record['max_error'][k] * (1 + 1e-9))


def test_memory_stays_flat_as_the_split_grows(monkeypatch):
    model = build()
    alive = []
    statistics = model.token_statistics

    def tracked(*args):
        values, parts = statistics(*args)
        alive.append(weakref.ref(values))
        return values, parts

    monkeypatch.setattr(model, 'token_statistics', tracked)
    small = calibrate_token_thresholds(model, batches(2), [0.97])
    large = calibrate_token_thresholds(model, batches(8), [0.97])
    assert large.num_tokens.sum() > 2 * small.num_tokens.sum()
    # No batch's token statistics outlive the pass...
    assert len(alive) == 10 and all(ref() is None for ref in alive)
    # ...and the state kept is the same size.
    for name in ('counts', 'low', 'bin_width', 'min', 'max'):
        assert getattr(large, name).shape == getattr(small, name).shape


def test_a_part_without_tokens_gets_no_threshold(tmp_path, mm_warnings):
    model = build()
    with torch.no_grad():
        model.part_head.prototypes[1] = 1e4  # nearest to no token
    estimator = calibrate_token_thresholds(model, batches(1), [0.97])
    path, = write_threshold_files(estimator, [0.97], 'distance',
                                  str(tmp_path), 'ckpt.pth',
                                  model.part_head.prototypes)
    assert json.loads(open(path).read())['thresholds'][1] is None
    assert 'Part 1 got no token on the calibration split' in mm_warnings.text
    thresholds = load_token_thresholds(path, K)
    assert thresholds[1] == float('inf') and thresholds[0] < float('inf')


def test_the_training_split_is_read_like_the_test_split():
    test_pipeline = [dict(type='LoadImageFromFile'), dict(type='PackInputs')]
    cfg = Config(
        dict(
            train_dataloader=dict(
                batch_size=8,
                dataset=dict(type='D', split='train',
                             pipeline=[dict(type='RandomFlip')]),
                sampler=dict(type='DefaultSampler', shuffle=True)),
            test_dataloader=dict(dataset=dict(pipeline=test_pipeline))))
    loader = calibration_dataloader(cfg, 'train')
    assert loader['dataset'] == dict(type='D', split='train',
                                     pipeline=test_pipeline)
    assert loader['sampler'] == dict(type='DefaultSampler', shuffle=False)
    assert cfg.train_dataloader.sampler.shuffle  # the config is untouched
    del cfg.train_dataloader.dataset['pipeline']
    with pytest.raises(ValueError, match='no pipeline to replace.*--split '
                       'val'):
        calibration_dataloader(cfg, 'train')
