# Copyright (c) ifam_mm contributors. All rights reserved.
"""tools/calibrate_thresholds.py on a config with an EMAHook (as the
ImageNet K = 1 config has): it calibrates the EMA weights, those the test
loop evaluates, and tools/test.py accepts the file for that checkpoint."""
import json
import os.path as osp

import pytest
import torch
from mmengine.config import Config
from mmengine.registry import DefaultScope
from mmengine.runner import Runner

from ifam_mm.models.utils.token_thresholds import prototype_fingerprint
from ifam_mm.testing import make_toy_classification_set
from ifam_mm.utils.safe_loading import runner_checkpoint_loading

REPO_ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
TOY = osp.join(REPO_ROOT, 'configs', 'ifam', 'ifam_vit-tiny-p8_1xb16_toy.py')


@pytest.fixture(scope='module', autouse=True)
def one_thread():
    # The tools run in subprocesses that inherit the environment; tiny
    # tensors gain nothing from threads on a shared 2-core machine.
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv('OMP_NUM_THREADS', '1')
        yield


@pytest.fixture(scope='module')
def ema_run(tmp_path_factory, run_tool):
    """A toy iFAM with an EMA (momentum 0.5, so that it differs from the
    live weights after 2 steps), trained for one epoch by tools/train.py."""
    root = tmp_path_factory.mktemp('ema')
    config = root / 'toy_ema.py'
    config.write_text(f'_base_ = [{TOY!r}]\n'
                      "custom_hooks = [dict(type='EMAHook', momentum=0.5)]\n")
    data = make_toy_classification_set(str(root / 'toy'), num_per_class=2)
    data_options = [
        f'{split}_dataloader.dataset.data_root={data}'
        for split in ('train', 'val', 'test')
    ]
    run_tool('train.py', [
        str(config), '--work-dir',
        str(root / 'work'), '--cfg-options', 'train_cfg.max_epochs=1',
        'train_dataloader.batch_size=3'
    ] + data_options, root)
    return dict(
        root=root,
        config=str(config),
        data_options=data_options,
        checkpoint=str(root / 'work' / 'epoch_1.pth'))


def test_loading_an_ema_checkpoint_needs_before_run(ema_run):
    # The control: what the tool did before it ran the before_run hooks.
    cfg = Config.fromfile(ema_run['config'])
    cfg.merge_from_dict(
        dict(o.split('=', 1) for o in ema_run['data_options']))
    cfg.merge_from_dict(
        dict(
            work_dir=str(ema_run['root'] / 'control'),
            load_from=ema_run['checkpoint']))
    with DefaultScope.overwrite_default_scope('mmpretrain'):
        runner = Runner.from_cfg(cfg)
        with pytest.raises(AttributeError, match='ema_model'):
            with runner_checkpoint_loading():
                runner.load_or_resume()


def test_calibrates_the_ema_weights_that_test_evaluates(ema_run, run_tool):
    root, config = ema_run['root'], ema_run['config']
    with runner_checkpoint_loading():
        checkpoint = torch.load(ema_run['checkpoint'], map_location='cpu')
    # mmengine's EMAHook saves the EMA weights as the state_dict and the
    # live ones as ema_state_dict; the test loop swaps the EMA ones in.
    ema = checkpoint['state_dict']['part_head.prototypes']
    live = checkpoint['ema_state_dict']['module.part_head.prototypes']
    assert not torch.equal(ema, live)

    out_dir = root / 'thresholds'
    run_tool('calibrate_thresholds.py', [
        config, ema_run['checkpoint'], '--quantiles', '0.9', '--out-dir',
        str(out_dir), '--work-dir',
        str(root / 'calibrate'), '--cfg-options'
    ] + ema_run['data_options'], root)
    path = str(out_dir / 'thresholds_distance_q0.9.json')
    with open(path) as f:
        record = json.load(f)
    assert record['prototypes_sha256'] == prototype_fingerprint(ema)
    assert record['num_images'] == 6  # the training split

    # The model checks the file's fingerprint against the prototypes it
    # evaluates with: a file of the live weights would be refused here.
    out = run_tool('test.py', [
        config, ema_run['checkpoint'], '--token-thresholds', path,
        '--work-dir',
        str(root / 'test'), '--cfg-options'
    ] + ema_run['data_options'], root)
    assert 'Start testing on EMA model.' in out
    assert 'accuracy/top1' in out
