# Copyright (c) ifam_mm contributors. All rights reserved.
import os.path as osp

import torch
import torch.nn as nn

from ifam_mm.testing import make_toy_classification_set
from mmpretrain.registry import OPTIM_WRAPPERS

REPO_ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
CONFIG = osp.join(REPO_ROOT, 'configs', 'hardmask_vit',
                  'hardmask-vit-tiny-p8_1xb16_toy.py')


def test_step_runs_under_bf16_autocast():
    torch.manual_seed(0)
    model = nn.Linear(4, 2)
    before = model.weight.detach().clone()
    optim_wrapper = OPTIM_WRAPPERS.build(
        dict(
            type='CPUAutocastOptimWrapper',
            optimizer=torch.optim.SGD(model.parameters(), lr=0.1)))

    assert not torch.is_autocast_enabled('cpu')
    with optim_wrapper.optim_context(model):
        assert torch.is_autocast_enabled('cpu')
        assert torch.get_autocast_dtype('cpu') == torch.bfloat16
        out = model(torch.randn(3, 4))
    assert not torch.is_autocast_enabled('cpu')
    assert out.dtype == torch.bfloat16

    optim_wrapper.update_params(out.float().pow(2).mean())
    # Master weights stay float32 and are updated.
    assert model.weight.dtype == torch.float32
    assert not torch.equal(model.weight, before)


def test_amp_train_and_test_tools(tmp_path, run_tool):
    # 3 classes x 4 images with batch 6: 2 iterations.
    root = make_toy_classification_set(str(tmp_path / 'toy'), num_per_class=4)
    work_dir = str(tmp_path / 'work')
    data_options = [
        f'{split}_dataloader.dataset.data_root={root}'
        for split in ('train', 'val', 'test')
    ]
    out = run_tool('train.py', [
        CONFIG, '--amp', '--work-dir', work_dir, '--cfg-options',
        'train_cfg.max_epochs=1', 'train_dataloader.batch_size=6',
        'default_hooks.logger.interval=1'
    ] + data_options, tmp_path)
    expected = ('AmpOptimWrapper'
                if torch.cuda.is_available() else 'CPUAutocastOptimWrapper')
    assert f"type='{expected}'" in out  # the config the Runner logs
    assert 'Epoch(train) [1][2/2]' in out

    out = run_tool('test.py', [
        CONFIG,
        osp.join(work_dir, 'epoch_1.pth'), '--amp', '--work-dir',
        str(tmp_path / 'test'), '--cfg-options'
    ] + data_options, tmp_path)
    assert 'accuracy/top1' in out
