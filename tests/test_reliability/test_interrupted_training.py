# Copyright (c) ifam_mm contributors. All rights reserved.
"""Training killed with SIGKILL mid-epoch, then resumed with --resume,
ends exactly where uninterrupted training ends.

The toy iFAM (Gumbel-softmax part maps, part dropout, random flips) trains
2 epochs of 3 iterations with EMA weights and validation after each epoch,
once without interruption and once killed -- every process of the job at
once, as a cluster scheduler does -- in the middle of epoch 2, then resumed
from the epoch-1 checkpoint by ``tools/train.py --resume``. Both runs must
end with bit-identical live and EMA weights, optimizer and scheduler
states, epoch-2 losses and validation accuracy, with 1 process and with 2.
"""
import glob
import json
import os
import os.path as osp
import signal
import socket
import subprocess
import sys
import time

import pytest
import torch

from ifam_mm.testing import make_toy_classification_set
from ifam_mm.utils.safe_loading import runner_checkpoint_loading

REPO_ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
CONFIG = osp.join(REPO_ROOT, 'configs', 'ifam',
                  'ifam_vit-tiny-p8_1xb16_toy.py')
IMAGES = 12  # 3 classes x 4: 3 iterations per epoch at 4 images each

# A test-only hook: at the given iteration each rank says so (its pid in
# a file) and waits to be killed, so the kill lands at a known point.
PAUSE_HOOK = '''
import os
import time

from mmengine.dist import get_rank
from mmengine.hooks import Hook
from mmpretrain.registry import HOOKS


@HOOKS.register_module()
class PauseForKill(Hook):
    priority = 'LOWEST'

    def __init__(self, epoch, batch_idx, marker_dir):
        self.epoch, self.batch_idx = epoch, batch_idx
        self.marker_dir = marker_dir

    def after_train_iter(self, runner, batch_idx, data_batch=None,
                         outputs=None):
        if (runner.epoch, batch_idx) != (self.epoch, self.batch_idx):
            return
        path = os.path.join(self.marker_dir, str(get_rank()))
        with open(path + '.tmp', 'w') as f:
            f.write(str(os.getpid()))
        os.replace(path + '.tmp', path)
        parent = os.getppid()
        while os.getppid() == parent:  # until killed, or orphaned
            time.sleep(0.1)
        os._exit(1)
'''

CONFIG_TEXT = '''
_base_ = [{config!r}]
custom_imports = dict(
    imports=['ifam_mm', 'pause_for_kill'], allow_failed_imports=False)
train_dataloader = dict(batch_size={batch_size},
                        dataset=dict(data_root={root!r}))
val_dataloader = dict(dataset=dict(data_root={root!r}))
test_dataloader = val_dataloader
train_cfg = dict(max_epochs=2, val_interval=1)
randomness = dict(seed=0, deterministic=True)
default_hooks = dict(logger=dict(interval=1))
custom_hooks = [dict(type='EMAHook', momentum=0.1)] + {extra_hooks}
'''


def free_port():
    with socket.socket() as sock:
        sock.bind(('127.0.0.1', 0))
        return sock.getsockname()[1]


@pytest.fixture(scope='module')
def toy_set(tmp_path_factory):
    return make_toy_classification_set(
        str(tmp_path_factory.mktemp('toy')), num_per_class=IMAGES // 3)


def write_config(path, root, procs, extra_hooks='[]'):
    path.write_text(
        CONFIG_TEXT.format(
            config=CONFIG,
            root=root,
            batch_size=4 // procs,
            extra_hooks=extra_hooks))
    return str(path)


@pytest.fixture
def jobs():
    """Started jobs; any still running at the end (a failed test) is
    stopped: SIGTERM lets torchrun stop its workers."""
    started = []
    yield started
    for proc in started:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)


def start(jobs, config, work_dir, procs, tmp_path, *args):
    """tools/train.py (1 process) or tools/dist_train.sh, in the
    background, in its own session."""
    if procs == 1:
        cmd = [sys.executable, osp.join(REPO_ROOT, 'tools', 'train.py')]
    else:
        cmd = ['bash', osp.join(REPO_ROOT, 'tools', 'dist_train.sh')]
    cmd += [config] + ([str(procs)] if procs > 1 else [])
    cmd += ['--work-dir', work_dir] + list(args)
    log = open(f'{work_dir}.log', 'w')
    env = dict(
        os.environ,
        PORT=str(free_port()),
        OMP_NUM_THREADS='1',  # tiny tensors; 2 threads only contend
        PYTHONPATH=os.pathsep.join([str(tmp_path), REPO_ROOT]))
    proc = subprocess.Popen(
        cmd,
        cwd=tmp_path,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True)
    log.close()
    jobs.append(proc)
    return proc


def finish(proc, work_dir, timeout=300):
    proc.wait(timeout=timeout)
    with open(f'{work_dir}.log') as f:
        out = f.read()
    assert proc.returncode == 0, out[-4000:]
    return out


def kill_when_paused(proc, marker_dir, procs, timeout=300):
    """SIGKILL every process of the job once each rank has paused."""
    deadline = time.monotonic() + timeout
    while len(os.listdir(marker_dir)) < procs:
        assert proc.poll() is None, 'the job ended before the kill point'
        assert time.monotonic() < deadline, 'the kill point was not reached'
        time.sleep(0.2)
    # The launcher first (torchrun would react to dead workers), then the
    # ranks: torchrun starts each in a session of its own.
    os.killpg(proc.pid, signal.SIGKILL)
    for rank in range(procs):
        with open(osp.join(marker_dir, str(rank))) as f:
            pid = int(f.read())
        if pid != proc.pid:
            os.kill(pid, signal.SIGKILL)
    proc.wait(timeout=60)
    assert proc.returncode == -signal.SIGKILL


def scalars(work_dir):
    """Logged rows of the newest run in work_dir: epoch-2 training losses
    and the validation accuracies."""
    path = sorted(glob.glob(osp.join(work_dir, '*', 'vis_data',
                                     'scalars.json')))[-1]
    with open(path) as f:
        rows = [json.loads(line) for line in f]
    losses = {
        row['iter']: {k: v
                      for k, v in row.items() if k.startswith('loss')}
        for row in rows if 'loss' in row and row['epoch'] == 2
    }
    accuracy = [row['accuracy/top1'] for row in rows if 'accuracy/top1' in row]
    return losses, accuracy


def assert_same_state(resumed, reference):
    # mmengine's EMAHook stores the EMA weights as state_dict and the live
    # ones, prefixed 'module.', as ema_state_dict.
    for key in ('state_dict', 'ema_state_dict'):
        assert resumed[key].keys() == reference[key].keys()
        for name, value in reference[key].items():
            assert torch.equal(resumed[key][name], value), (key, name)
    state, expected = resumed['optimizer'], reference['optimizer']
    assert state['param_groups'] == expected['param_groups']
    assert state['state'].keys() == expected['state'].keys()
    for index, slots in expected['state'].items():
        for slot, value in slots.items():
            assert torch.equal(state['state'][index][slot], value), slot
    assert resumed['param_schedulers'] == reference['param_schedulers']
    assert resumed['meta']['epoch'] == reference['meta']['epoch'] == 2
    assert resumed['meta']['iter'] == reference['meta']['iter'] == 6


@pytest.mark.parametrize('procs', [1, 2])
def test_sigkill_mid_epoch_then_resume_equals_uninterrupted(
        tmp_path, toy_set, jobs, procs):
    (tmp_path / 'pause_for_kill.py').write_text(PAUSE_HOOK)
    marker_dir = tmp_path / 'paused'
    marker_dir.mkdir()
    config = write_config(tmp_path / 'toy.py', toy_set, procs)
    # Killed after iteration 2 of 3 of epoch 2 (0-based: 1, 1).
    doomed_config = write_config(
        tmp_path / 'toy_killed.py', toy_set, procs,
        f'[dict(type="PauseForKill", epoch=1, batch_idx=1, '
        f'marker_dir={str(marker_dir)!r})]')
    reference_dir = str(tmp_path / 'uninterrupted')
    work_dir = str(tmp_path / 'interrupted')

    # Both at once: on 2 cores the single-process runs overlap well.
    reference = start(jobs, config, reference_dir, procs, tmp_path)
    doomed = start(jobs, doomed_config, work_dir, procs, tmp_path)
    kill_when_paused(doomed, str(marker_dir), procs)
    with open(f'{work_dir}.log') as f:
        assert 'Epoch(train) [2][2/3]' in f.read()
    assert osp.isfile(osp.join(work_dir, 'epoch_1.pth'))
    assert not osp.exists(osp.join(work_dir, 'epoch_2.pth'))

    out = finish(
        start(jobs, config, work_dir, procs, tmp_path, '--resume'), work_dir)
    assert 'resumed epoch: 1, iter: 3' in out
    assert 'Epoch(train) [2][1/3]' in out
    finish(reference, reference_dir)

    def final(run_dir):
        with runner_checkpoint_loading():
            return torch.load(
                osp.join(run_dir, 'epoch_2.pth'),
                map_location='cpu',
                weights_only=True)

    assert_same_state(final(work_dir), final(reference_dir))
    losses, accuracy = scalars(work_dir)
    expected_losses, expected_accuracy = scalars(reference_dir)
    assert sorted(losses) == [4, 5, 6]
    assert losses == expected_losses
    # The resumed run validates once (after epoch 2), the reference twice.
    assert accuracy == expected_accuracy[-1:]
