# Copyright (c) ifam_mm contributors. All rights reserved.
"""Training-time pruning under DDP: 2 gloo processes train exactly as 1.

Each process prunes its images to its own padded length, and every
parameter still gets a gradient (a dropped token's is zero), so DDP with
``find_unused_parameters=False`` (the Runner's default) does not fail.
"""
import os
import os.path as osp
import socket
import subprocess
import sys

import torch

REPO_ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
SCRIPT = osp.join(osp.dirname(osp.abspath(__file__)), 'ddp_pruned_step.py')


def free_port():
    with socket.socket() as sock:
        sock.bind(('127.0.0.1', 0))
        return sock.getsockname()[1]


def train(processes, out_file):
    cmd = [
        sys.executable, '-m', 'torch.distributed.run',
        f'--nproc_per_node={processes}', f'--master_port={free_port()}',
        SCRIPT, out_file
    ]
    env = dict(os.environ, OMP_NUM_THREADS='1',
               PYTHONPATH=os.pathsep.join(
                   [REPO_ROOT, os.environ.get('PYTHONPATH', '')]))
    result = subprocess.run(
        cmd, env=env, capture_output=True, text=True, timeout=180)
    assert result.returncode == 0, (result.stdout + result.stderr)[-4000:]
    assert 'find_unused_parameters' not in result.stderr
    return torch.load(out_file)


def test_two_processes_train_as_one(tmp_path):
    one = train(1, str(tmp_path / 'one.pt'))
    two = train(2, str(tmp_path / 'two.pt'))
    assert one['losses'][0] != one['losses'][1]  # it did train
    torch.testing.assert_close(
        torch.tensor(two['losses']), torch.tensor(one['losses']))
    for name, value in one['state'].items():
        torch.testing.assert_close(
            two['state'][name], value, rtol=1e-4, atol=1e-6, msg=name)
