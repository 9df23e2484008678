# Copyright (c) ifam_mm contributors. All rights reserved.
"""tools/train.py, --resume and tools/test.py, run as a user runs them."""
import json
import os.path as osp

import pytest

from ifam_mm.testing import make_toy_classification_set

REPO_ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
CONFIG = osp.join(REPO_ROOT, 'configs', 'hardmask_vit',
                  'hardmask-vit-tiny-p8_1xb16_toy.py')


@pytest.fixture(scope='module')
def data_options(tmp_path_factory):
    # 3 classes x 4 images with batch 6: 2 iterations per epoch.
    root = make_toy_classification_set(
        str(tmp_path_factory.mktemp('toy')), num_per_class=4)
    return [
        f'{split}_dataloader.dataset.data_root={root}'
        for split in ('train', 'val', 'test')
    ] + ['train_dataloader.batch_size=6', 'default_hooks.logger.interval=1']


def test_train_resume_then_test(tmp_path, data_options, run_tool):
    # cwd is outside the checkout: the tools find ifam_mm by themselves.
    # The config has num_workers=0, so this also fails if train.py defaults
    # persistent_workers to True (torch raises then).
    work_dir = str(tmp_path / 'work')
    out = run_tool('train.py', [
        CONFIG, '--work-dir', work_dir, '--cfg-options',
        'train_cfg.max_epochs=1'
    ] + data_options, tmp_path)
    assert 'Epoch(train) [1][2/2]' in out
    assert osp.isfile(osp.join(work_dir, 'epoch_1.pth'))

    # `--resume` without a path picks the latest checkpoint of work_dir.
    out = run_tool('train.py', [
        CONFIG, '--work-dir', work_dir, '--resume', '--cfg-options',
        'train_cfg.max_epochs=2'
    ] + data_options, tmp_path)
    assert 'resumed epoch: 1, iter: 2' in out
    assert 'Epoch(train) [1]' not in out
    assert 'Epoch(train) [2][2/2]' in out
    assert osp.isfile(osp.join(work_dir, 'epoch_2.pth'))

    metrics_file = str(tmp_path / 'metrics.json')
    out = run_tool('test.py', [
        CONFIG,
        osp.join(work_dir, 'epoch_2.pth'), '--work-dir',
        str(tmp_path / 'test'), '--out', metrics_file, '--out-item', 'metrics',
        '--cfg-options'
    ] + data_options, tmp_path)
    assert 'Load checkpoint from' in out
    with open(metrics_file) as f:
        metrics = json.load(f)
    assert 0 <= metrics['accuracy/top1'] <= 100
