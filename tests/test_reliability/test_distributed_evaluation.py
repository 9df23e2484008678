# Copyright (c) ifam_mm contributors. All rights reserved.
"""tools/dist_test.sh with 2 processes reports exactly what tools/test.py
reports with one, on a test set of odd size.

The metrics' own 1-vs-2-rank tests (tests/test_evaluation/test_metrics:
test_distributed_metrics.py and test_part_quality.py) feed records to
``process`` directly and show that counting the sampler's padding twice
would change every metric. This test runs the whole path a user runs:
the toy iFAM's predictions on 13 SpuriousShapes images, sharded by
mmengine's DefaultSampler (7 per rank, sample 0 repeated on rank 1),
gathered by the Evaluator, for every metric SpuriousShapes has the
ground truth for (KeypointRegression needs keypoints: its own tests).
"""
import json
import math
import os
import os.path as osp
import socket
import subprocess
import sys

import torch
from mmengine.config import Config
from mmengine.registry import DefaultScope

import ifam_mm  # noqa: F401
from ifam_mm.datasets.spurious_shapes import SPLITS, SpuriousShapes
from mmpretrain.registry import MODELS

REPO_ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
BASE = osp.join(REPO_ROOT, 'configs', '_base_')
# 13 test images (odd); the other splits as small as the generator allows.
NUM_SAMPLES = dict({split: 4 for split in SPLITS}, test=13)

# The toy iFAM (K = 4) on SpuriousShapes' 64 px images and 2 classes.
CONFIG_TEXT = '''
_base_ = [
    {base!r} + '/default_runtime.py',
    {base!r} + '/models/ifam_vit-tiny-p8.py',
    {base!r} + '/datasets/spurious_shapes.py',
    {base!r} + '/schedules/ifam_toy_adamw-coslr-10e.py',
]
custom_imports = dict(imports=['ifam_mm'], allow_failed_imports=False)
model = dict(
    backbone=dict(img_size=64),
    stage2_backbone=dict(img_size=64),
    part_head=dict(num_classes=2),
    head=dict(num_classes=2))
test_dataloader = dict(
    batch_size=4, dataset=dict(data_root={root!r}, num_samples={num!r}))
test_evaluator = [
    dict(type='Accuracy', topk=(1, )),
    dict(type='GroupAccuracy'),
    dict(type='GroupAUROC'),
    dict(type='IN9Accuracy'),
    dict(type='MaskLeakMetric'),
    dict(type='ForegroundIoU'),
    dict(type='PartNMIARI'),
]
'''


def free_port():
    with socket.socket() as sock:
        sock.bind(('127.0.0.1', 0))
        return sock.getsockname()[1]


def start(cmd, tmp_path, name):
    log = open(tmp_path / f'{name}.log', 'w')
    # The checkout's package first, as tools/dist_test.sh puts it.
    env = dict(os.environ, PORT=str(free_port()), OMP_NUM_THREADS='1',
               PYTHONPATH=REPO_ROOT)
    proc = subprocess.Popen(
        cmd, cwd=tmp_path, env=env, stdout=log, stderr=subprocess.STDOUT)
    log.close()
    return proc


def finish(proc, tmp_path, name):
    proc.wait(timeout=300)
    out = (tmp_path / f'{name}.log').read_text()
    assert proc.returncode == 0, out[-4000:]
    with open(tmp_path / f'{name}.json') as f:
        return json.load(f)


def test_dist_test_matches_single_process_test(tmp_path):
    root = str(tmp_path / 'data')
    # Generated once here, not by both ranks at once.
    SpuriousShapes(root, split='test', num_samples=NUM_SAMPLES)
    config = tmp_path / 'config.py'
    config.write_text(
        CONFIG_TEXT.format(base=BASE, root=root, num=NUM_SAMPLES))
    torch.manual_seed(0)
    with DefaultScope.overwrite_default_scope('mmpretrain'):
        model = MODELS.build(Config.fromfile(str(config)).model)
    checkpoint = str(tmp_path / 'model.pth')
    torch.save(dict(state_dict=model.state_dict()), checkpoint)

    def args(name):
        return [
            '--work-dir',
            str(tmp_path / name), '--out',
            str(tmp_path / f'{name}.json'), '--out-item', 'metrics'
        ]

    tools = osp.join(REPO_ROOT, 'tools')
    single = start([
        sys.executable,
        osp.join(tools, 'test.py'),
        str(config), checkpoint
    ] + args('single'), tmp_path, 'single')
    dist = start([
        'bash',
        osp.join(tools, 'dist_test.sh'),
        str(config), checkpoint, '2'
    ] + args('dist'), tmp_path, 'dist')
    expected = finish(single, tmp_path, 'single')
    metrics = finish(dist, tmp_path, 'dist')

    assert metrics.keys() == expected.keys()
    for key, value in expected.items():
        assert metrics[key] == value or (math.isnan(value)
                                         and math.isnan(metrics[key])), key
