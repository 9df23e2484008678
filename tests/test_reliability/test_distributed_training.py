# Copyright (c) ifam_mm contributors. All rights reserved.
"""2-process training does not hang or fail when part dropout drops every
part.

DDP (``find_unused_parameters=False``, the Runner's default) expects a
gradient for every trainable parameter at every step; a parameter left out
of the autograd graph makes it raise at the next step, or wait forever.
Part dropout zeroes whole parts of stage 1 (part vectors) and of the
stage-2 mask, so whole branches contribute nothing. They stay in the
graph: their gradients are zero, not missing, so no ``model_wrapper_cfg``
is needed (docs/reliability.md).
"""
import copy
import os
import os.path as osp
import socket
import subprocess

import pytest
import torch
from mmengine.config import Config
from mmengine.registry import DefaultScope

import ifam_mm  # noqa: F401
from ifam_mm.testing import make_toy_classification_set
from mmpretrain.registry import MODELS
from mmpretrain.structures import DataSample

REPO_ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
CONFIG = osp.join(REPO_ROOT, 'configs', 'ifam',
                  'ifam_vit-tiny-p8_1xb16_toy.py')
# Stage-1 part vectors and stage-2 mask parts all dropped, every step.
DROP_ALL = dict(part_dropout=1.0, mask_part_dropout=1.0)


@pytest.fixture(scope='module')
def toy_cfg():
    return Config.fromfile(CONFIG)


def build_model(toy_cfg, part_dropout, mask_part_dropout, **model_overrides):
    cfg = copy.deepcopy(toy_cfg)
    cfg.merge_from_dict({
        'model.part_head.part_dropout': part_dropout,
        'model.train_cfg.mask_part_dropout': mask_part_dropout,
        **{f'model.{key}': value
           for key, value in model_overrides.items()}
    })
    with DefaultScope.overwrite_default_scope('mmpretrain'):
        return MODELS.build(cfg.model).train()


@pytest.mark.parametrize(
    'overrides', [
        dict(),
        {'stage2_backbone.mask_grad': 'straight_through'},
        dict(equivariance=None),
        {'backbone.frozen': True},
    ],
    ids=['toy', 'straight_through', 'no_equivariance', 'frozen_stage1'])
def test_every_trainable_parameter_gets_a_gradient(toy_cfg, overrides):
    torch.manual_seed(0)
    model = build_model(toy_cfg, **DROP_ALL, **overrides)
    images = torch.randn(4, 3, 56, 56)
    samples = [DataSample().set_gt_label(i % 3) for i in range(4)]
    losses = model(images, samples, mode='loss')
    assert losses['kept_fraction'] == 0  # stage 2 sees no patch token
    sum(v for k, v in losses.items() if k.startswith('loss')).backward()
    trainable = {n: p for n, p in model.named_parameters() if p.requires_grad}
    assert [n for n, p in trainable.items() if p.grad is None] == []
    # The dropped branches do reach the graph with zero gradients: what
    # DDP would otherwise see as unused parameters.
    assert not trainable['part_head.classifier.weight'].grad.any()
    assert not trainable['stage2_backbone.vit.patch_embed.proj.weight'] \
        .grad.any()


def free_port():
    with socket.socket() as sock:
        sock.bind(('127.0.0.1', 0))
        return sock.getsockname()[1]


def test_two_processes_finish_with_every_part_dropped(tmp_path):
    # 3 classes x 4 images, 2 per process and iteration: 3 iterations.
    root = make_toy_classification_set(str(tmp_path / 'toy'),
                                       num_per_class=4)
    cmd = [
        'bash',
        osp.join(REPO_ROOT, 'tools', 'dist_train.sh'), CONFIG, '2',
        '--work-dir',
        str(tmp_path / 'work'), '--cfg-options', 'train_cfg.max_epochs=1',
        'train_dataloader.batch_size=2', 'default_hooks.logger.interval=1',
        f'train_dataloader.dataset.data_root={root}',
        f'val_dataloader.dataset.data_root={root}',
        f"model.part_head.part_dropout={DROP_ALL['part_dropout']}",
        f"model.train_cfg.mask_part_dropout={DROP_ALL['mask_part_dropout']}"
    ]
    # A hang shows as a timeout, not as a stuck test run.
    result = subprocess.run(
        cmd,
        cwd=tmp_path,
        env=dict(os.environ, PORT=str(free_port()), OMP_NUM_THREADS='1'),
        capture_output=True,
        text=True,
        timeout=180)
    out = result.stdout + result.stderr
    assert result.returncode == 0, out[-4000:]
    for it in (1, 2, 3):
        assert f'Epoch(train) [1][{it}/3]' in out
    assert 'kept_fraction: 0.0000' in out
    # DDP's error (or warning) would suggest find_unused_parameters=True.
    assert 'find_unused_parameters=True' not in out
    assert osp.isfile(osp.join(tmp_path, 'work', 'epoch_1.pth'))
