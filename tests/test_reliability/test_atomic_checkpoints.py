# Copyright (c) ifam_mm contributors. All rights reserved.
"""A crash while a checkpoint is saved never costs the last checkpoint.

The checkpoint hook, as a Runner drives it, is interrupted in the middle
of each file it writes: the first save of ``epoch_2.pth`` (where mmengine
deletes ``epoch_1.pth`` first, with ``max_keep_ckpts=1``), its re-save
after the validation that improved the best score, and the
``last_checkpoint`` pointer. The crash is an exception raised once half of
the bytes reached the file: nothing of the write path runs after it, as
after a SIGKILL. With ``AtomicCheckpointHook`` (what
configs/_base_/default_runtime.py sets), ``--resume`` then finds a complete
checkpoint; with mmengine's ``CheckpointHook`` (the control), it finds
none.
"""
import builtins
import glob
import os.path as osp
import uuid

import pytest
import torch
from mmengine.evaluator import BaseMetric
from mmengine.hooks import CheckpointHook
from mmengine.model import BaseModel
from mmengine.registry import DefaultScope
from mmengine.runner import CheckpointLoader, Runner, find_latest_checkpoint
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from ifam_mm.engine.hooks import AtomicCheckpointHook
from ifam_mm.utils.safe_loading import runner_checkpoint_loading


class Crash(BaseException):
    """Stands for the kill; BaseException, so no ``except`` catches it."""


class TinyModel(BaseModel):

    def __init__(self):
        super().__init__()
        self.linear = nn.Linear(2, 1)

    def forward(self, inputs, targets, mode='tensor'):
        pred = self.linear(inputs)[:, 0]
        if mode == 'loss':
            return dict(loss=(pred - targets).pow(2).mean())
        return list(pred)


class ImprovingMetric(BaseMetric):
    """Better at every validation, so the best checkpoint moves each time
    and the last checkpoint is saved a second time."""

    def __init__(self):
        super().__init__()
        self.calls = 0

    def process(self, data_batch, data_samples):
        self.results.append(0)

    def compute_metrics(self, results):
        self.calls += 1
        return dict(score=float(self.calls))


def train(work_dir, max_epochs=2, hook=AtomicCheckpointHook):
    data = TensorDataset(torch.randn(4, 2), torch.randn(4))
    # The Runner makes its scope the current one; undone on exit, so later
    # tests build from the registries they expect.
    with DefaultScope.overwrite_default_scope('mmengine'):
        runner = Runner(
            model=TinyModel(),
            work_dir=work_dir,
            experiment_name=f'atomic_{uuid.uuid4().hex}',
            train_dataloader=DataLoader(data, batch_size=2),
            val_dataloader=DataLoader(data, batch_size=2),
            val_evaluator=[ImprovingMetric()],
            optim_wrapper=dict(optimizer=dict(type='SGD', lr=0.1)),
            train_cfg=dict(
                by_epoch=True, max_epochs=max_epochs, val_interval=1),
            val_cfg=dict(),
            default_hooks=dict(
                checkpoint=dict(
                    type=hook,
                    interval=1,
                    max_keep_ckpts=1,
                    save_best='score',
                    rule='greater')),
            default_scope='mmengine')
        runner.train()


class HalfWrittenFile:
    """A file whose first ``write`` stores half of the data, then crashes."""

    def __init__(self, file):
        self.file = file

    def write(self, data):
        self.file.write(data[:len(data) // 2])
        self.file.flush()
        raise Crash(self.file.name)

    def __getattr__(self, name):
        return getattr(self.file, name)

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        self.file.close()


@pytest.fixture
def crash_on_write(monkeypatch):
    """``crash_on_write(prefix, n)``: the n-th file opened for writing
    whose name starts with ``prefix`` crashes halfway through (temporary
    siblings count: they are what the fixed code writes)."""
    real_open = builtins.open

    def arm(prefix, occurrence):
        seen = []

        def open_(file, mode='r', *args, **kwargs):
            f = real_open(file, mode, *args, **kwargs)
            if 'w' in mode and osp.basename(str(file)).startswith(prefix):
                seen.append(file)
                if len(seen) == occurrence:
                    return HalfWrittenFile(f)
            return f

        monkeypatch.setattr(builtins, 'open', open_)

    return arm


def resume_epoch(work_dir):
    """The epoch `--resume` would restart from, or None if it cannot."""
    path = find_latest_checkpoint(work_dir)
    try:
        with runner_checkpoint_loading():  # as tools/train.py --resume
            checkpoint = CheckpointLoader.load_checkpoint(
                path, map_location='cpu')
    except Exception:  # missing or truncated: what the control leaves
        return None
    return checkpoint['meta']['epoch']


# (file, which of its writes crashes, epoch --resume restarts from).
CRASHES = [
    # The new checkpoint; mmengine had deleted epoch_1.pth already.
    ('epoch_2.pth', 1, 1),
    # The re-save, over the file last_checkpoint already names.
    ('epoch_2.pth', 2, 2),
    # The pointer, third update (after epoch_2.pth was saved).
    ('last_checkpoint', 3, 1),
]


@pytest.mark.parametrize('prefix,occurrence,epoch', CRASHES)
def test_crash_while_saving_keeps_a_checkpoint(tmp_path, crash_on_write,
                                               prefix, occurrence, epoch):
    crash_on_write(prefix, occurrence)
    with pytest.raises(Crash):
        train(str(tmp_path))
    assert resume_epoch(str(tmp_path)) == epoch


@pytest.mark.parametrize('prefix,occurrence,epoch', CRASHES)
def test_control_mmengine_hook_loses_the_checkpoint(tmp_path, crash_on_write,
                                                    prefix, occurrence,
                                                    epoch):
    crash_on_write(prefix, occurrence)
    with pytest.raises(Crash):
        train(str(tmp_path), hook=CheckpointHook)
    assert resume_epoch(str(tmp_path)) is None


def test_uninterrupted_training_leaves_only_the_kept_checkpoints(tmp_path):
    train(str(tmp_path), max_epochs=3)
    assert resume_epoch(str(tmp_path)) == 3
    # Old checkpoints are still deleted, and no temporary file is left.
    assert sorted(
        osp.basename(p) for p in glob.glob(str(tmp_path / '*.pth'))) == [
            'best_score_epoch_3.pth', 'epoch_3.pth'
        ]
    assert not glob.glob(str(tmp_path / '**' / '*.tmp'), recursive=True)
