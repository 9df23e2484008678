# Copyright (c) ifam_mm contributors. All rights reserved.
"""``import ifam_mm`` registers components and changes nothing else.

Both tests run fresh interpreters. The first compares the process state a
plugin could change (the mmengine and torch functions earlier versions
patched, torch's weights-only allow-list, atexit handlers, environment,
warning filters, registries) before and after ``import ifam_mm``, once its
third-party dependencies are imported (importing PIL, timm or torchvision
registers their own atexit handlers and allow-list entries; that is theirs,
and happens in any process that uses them). The second trains a stock
MMPretrain config, checkpoints it and resumes it, with and without
``custom_imports=dict(imports=['ifam_mm'])``, and compares every loss and
weight.
"""
import ast
import glob
import json
import os
import os.path as osp
import subprocess
import sys

import pytest
import torch

from ifam_mm.testing import make_toy_classification_set

REPO_ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))


def run_python(code, *args, **env):
    """Run ``code`` in a fresh interpreter that imports this checkout;
    returns the JSON its last line prints."""
    env = dict(
        os.environ,
        PYTHONPATH=os.pathsep.join(
            p for p in (REPO_ROOT, os.environ.get('PYTHONPATH')) if p),
        OMP_NUM_THREADS='1',
        **env)
    # cwd: `python -c` puts it first on sys.path.
    result = subprocess.run([sys.executable, '-c', code, *args],
                            cwd=REPO_ROOT,
                            env=env,
                            capture_output=True,
                            text=True,
                            timeout=300)
    assert result.returncode == 0, (result.stdout + result.stderr)[-4000:]
    return json.loads(result.stdout.strip().splitlines()[-1])


def third_party_imports():
    """Top-level modules the package's files import at module level."""
    names = set()
    for path in glob.glob(
            osp.join(REPO_ROOT, 'ifam_mm', '**', '*.py'), recursive=True):
        for node in ast.parse(open(path).read()).body:
            if isinstance(node, ast.Import):
                names.update(alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.level == 0:
                names.add(node.module)
    return sorted(n for n in names if n.split('.')[0] != 'ifam_mm')


SNAPSHOT = r'''
import atexit, builtins, json, os, sys, warnings
import importlib
for name in json.loads(sys.argv[1]):
    importlib.import_module(name)
import torch.serialization
import mmengine.config.config as cc
import mmengine.config.utils as cu
import mmengine.dist.utils as du
import mmengine.fileio.backends.registry_utils as fb
import mmengine.hooks.checkpoint_hook as ch
import mmengine.registry as mr
import mmpretrain.registry as pr
from mmengine.fileio.backends import LocalBackend
from mmengine.model import MMDistributedDataParallel


def registries(module):
    return {
        name: {key: id(cls) for key, cls in reg.module_dict.items()}
        for name, reg in vars(module).items() if isinstance(reg, mr.Registry)
    }


def snapshot():
    return dict(
        ids={
            name: id(obj) for name, obj in dict(
                init_dist_pytorch=du._init_dist_pytorch,
                init_dist=du.init_dist,
                ddp_init=MMDistributedDataParallel.__init__,
                local_put=LocalBackend.put,
                local_put_text=LocalBackend.put_text,
                checkpoint_hook_open=vars(ch).get('open'),
                builtins_open=builtins.open,
                is_installed=cc.is_installed,
                get_installed_path=cc.get_installed_path,
                **{f'CheckpointHook.{m}': getattr(ch.CheckpointHook, m)
                   for m in ('before_train', 'after_train_iter',
                             'after_train_epoch', 'after_val_epoch',
                             '_save_checkpoint', '_save_checkpoint_with_step',
                             '_save_best_checkpoint')},
            ).items()
        },
        safe_globals=sorted(map(str, torch.serialization.get_safe_globals())),
        atexit=atexit._ncallbacks(),
        environ=dict(os.environ),
        warning_filters=[str(f) for f in warnings.filters],
        module2package=dict(cu.MODULE2PACKAGE),
        prefix_backends={k: id(v) for k, v in fb.prefix_to_backends.items()},
        backends={k: id(v) for k, v in fb.backends.items()},
        mmengine_registries=registries(mr),
        mmpretrain_registries=registries(pr),
    )


before = json.loads(json.dumps(snapshot()))
import ifam_mm  # noqa: F401
after = json.loads(json.dumps(snapshot()))
print(json.dumps(dict(before=before, after=after)))
'''


def test_import_changes_nothing_but_registries():
    state = run_python(SNAPSHOT, json.dumps(third_party_imports()))
    before, after = state['before'], state['after']
    for key in ('ids', 'safe_globals', 'atexit', 'environ',
                'warning_filters', 'module2package', 'prefix_backends',
                'mmengine_registries'):
        assert after[key] == before[key], key
    # Registration only adds: the one file backend, selected by name...
    assert after['backends'] == dict(
        before['backends'], atomic_local=after['backends']['atomic_local'])
    # ... and components in mmpretrain's registries, replacing none.
    for name, entries in before['mmpretrain_registries'].items():
        added = after['mmpretrain_registries'][name]
        assert {k: added[k] for k in entries} == entries, name
    assert 'AtomicCheckpointHook' in after['mmpretrain_registries']['HOOKS']


# A stock MMPretrain classifier (a 2-layer ViT) on 56 px images, trained
# for 2 epochs with mmengine's stock CheckpointHook; then a second run
# resumes the first one's epoch-1 checkpoint. Prints the losses of both
# runs and a digest of each final checkpoint's weights.
STOCK_RUN = r'''
import hashlib, json, os, sys
import mmpretrain
import torch
from mmengine.config import Config
from mmengine.hooks import Hook
from mmengine.runner import Runner

plugin, data_root, out = sys.argv[1] == 'plugin', sys.argv[2], sys.argv[3]
# mmpretrain's runtime by path: `mmpretrain::` needs pkg_resources, which
# setuptools >= 81 lacks (our tools supply it; a stock script does not).
runtime = os.path.join(os.path.dirname(mmpretrain.__file__), '.mim',
                       'configs', '_base_', 'default_runtime.py')
text = """
_base_ = [%r]
model = dict(
    type='ImageClassifier',
    backbone=dict(type='VisionTransformer', img_size=56, patch_size=14,
                  arch=dict(embed_dims=32, num_layers=2, num_heads=2,
                            feedforward_channels=64)),
    neck=None,
    head=dict(type='VisionTransformerClsHead', num_classes=3,
              in_channels=32, loss=dict(type='CrossEntropyLoss')))
data_preprocessor = dict(num_classes=3, mean=[127.5] * 3, std=[127.5] * 3)
train_dataloader = dict(
    batch_size=2, num_workers=0,
    dataset=dict(type='CustomDataset', data_root=%r, data_prefix='train',
                 pipeline=[dict(type='LoadImageFromFile'),
                           dict(type='PackInputs')]),
    sampler=dict(type='DefaultSampler', shuffle=True))
optim_wrapper = dict(optimizer=dict(type='AdamW', lr=1e-3))
train_cfg = dict(by_epoch=True, max_epochs=2)
default_hooks = dict(logger=dict(type='LoggerHook', interval=1),
                     checkpoint=dict(type='CheckpointHook', interval=1))
randomness = dict(seed=0)
""" % (runtime, data_root)
if plugin:
    text += "custom_imports = dict(imports=['ifam_mm'])\n"
with open(out + '/config.py', 'w') as f:
    f.write(text)


class Recorder(Hook):

    def __init__(self, losses):
        self.losses = losses

    def after_train_iter(self, runner, batch_idx, data_batch, outputs):
        self.losses.append(outputs['loss'].item())


def train(name, **options):
    cfg = Config.fromfile(out + '/config.py')
    cfg.merge_from_dict(dict(work_dir=f'{out}/{name}',
                             experiment_name=name, **options))
    runner = Runner.from_cfg(cfg)
    losses = []
    runner.register_hook(Recorder(losses))
    runner.train()
    state = torch.load(f'{out}/{name}/epoch_2.pth', weights_only=False)
    return dict(
        losses=losses,
        weights={k: hashlib.sha256(v.numpy().tobytes()).hexdigest()
                 for k, v in state['state_dict'].items()},
        epoch=state['meta']['epoch'])


full = train('full')
resumed = train('resumed', resume=True, load_from=f'{out}/full/epoch_1.pth')
print(json.dumps(dict(full=full, resumed=resumed,
                      plugin_imported='ifam_mm' in sys.modules)))
'''


@pytest.fixture(scope='module')
def stock_runs(tmp_path_factory):
    root = tmp_path_factory.mktemp('stock')
    data = make_toy_classification_set(str(root / 'toy'), num_per_class=2)
    runs = {}
    for mode in ('stock', 'plugin'):
        out = root / mode
        out.mkdir()
        # Both runs resume the same way: torch's weights-only loader refuses
        # a runner checkpoint (what our tools' allow-list is for).
        runs[mode] = run_python(
            STOCK_RUN, mode, data, str(out),
            TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD='1')
    return runs


def test_stock_config_trains_and_resumes_the_same_with_the_plugin(
        stock_runs):
    stock, plugin = stock_runs['stock'], stock_runs['plugin']
    assert not stock['plugin_imported'] and plugin['plugin_imported']
    # 6 images an epoch in batches of 2: 3 iterations an epoch.
    assert len(stock['full']['losses']) == 6
    assert len(stock['resumed']['losses']) == 3
    assert stock['full']['epoch'] == stock['resumed']['epoch'] == 2
    for run in ('full', 'resumed'):
        assert plugin[run] == stock[run], run  # bit for bit
    # And the resume is exact in both: the same epoch 2 as training on.
    assert stock['resumed']['losses'] == stock['full']['losses'][3:]
    assert stock['resumed']['weights'] == stock['full']['weights']
    assert torch.tensor(stock['full']['losses']).isfinite().all()
