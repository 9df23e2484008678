# Copyright (c) ifam_mm contributors. All rights reserved.
"""Fixtures of the reliability tests: tiny configs run through mmengine's
Runner, which is what tools/train.py and tools/test.py call."""
import glob
import itertools
import os.path as osp

import pytest
from mmengine.config import Config

import ifam_mm  # noqa: F401  (stack fixes and registries)
from ifam_mm.testing import make_toy_classification_set

REPO_ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
CONFIGS = dict(
    ifam=osp.join(REPO_ROOT, 'configs', 'ifam',
                  'ifam_vit-tiny-p8_1xb16_toy.py'),
    hardmask=osp.join(REPO_ROOT, 'configs', 'hardmask_vit',
                      'hardmask-vit-tiny-p8_1xb16_toy.py'))
_runs = itertools.count()


@pytest.fixture
def unformatted_config_dump(monkeypatch):
    # The Runner logs (and saves in checkpoints) its config formatted with
    # yapf, which takes about a second, most of a tiny Runner's start-up.
    # These tests never read that text.
    monkeypatch.setattr(Config, 'pretty_text', property(lambda cfg: cfg.text))


@pytest.fixture(scope='module')
def toy_root(tmp_path_factory):
    """3 classes x 2 training images, 1 validation image each (56 px)."""
    return make_toy_classification_set(
        str(tmp_path_factory.mktemp('toy')), num_per_class=2)


@pytest.fixture
def toy_config(unformatted_config_dump):
    """``(work_dir, data_root, config='ifam', **options) -> Config``: a tiny
    config (``'ifam'`` or ``'hardmask'``) on a toy set, for one epoch of
    batches of 3 without validation; ``options`` are dotted keys, as
    ``--cfg-options`` takes them."""

    def make(work_dir, data_root, config='ifam', **options):
        cfg = Config.fromfile(CONFIGS[config])
        for split in ('train', 'val', 'test'):
            cfg[f'{split}_dataloader'].dataset.data_root = str(data_root)
        cfg.merge_from_dict({
            'train_dataloader.batch_size': 3,
            'train_cfg.max_epochs': 1,
            'train_cfg.val_interval': 100,
            'default_hooks.logger.interval': 1,
            **options
        })
        cfg.work_dir = str(work_dir)
        # mmengine keys its logger and visualizer on the experiment name,
        # and two Runners started in the same second would share them.
        cfg.experiment_name = f'reliability_{next(_runs)}'
        return cfg

    return make


@pytest.fixture
def read_log():
    """``(work_dir) -> str``: the text logs a Runner wrote there."""

    def read(work_dir):
        paths = sorted(glob.glob(osp.join(str(work_dir), '*', '*.log')))
        assert paths, f'no log under {work_dir}'
        return ''.join(open(p).read() for p in paths)

    return read
