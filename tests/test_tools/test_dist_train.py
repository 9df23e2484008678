# Copyright (c) ifam_mm contributors. All rights reserved.
"""tools/dist_train.sh trains with 2 processes, also without a GPU."""
import os
import os.path as osp
import socket
import subprocess

import torch

from ifam_mm.testing import make_toy_classification_set

REPO_ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
CONFIG = osp.join(REPO_ROOT, 'configs', 'hardmask_vit',
                  'hardmask-vit-tiny-p8_1xb16_toy.py')


def free_port():
    with socket.socket() as sock:
        sock.bind(('127.0.0.1', 0))
        return sock.getsockname()[1]


def test_dist_train_two_processes(tmp_path):
    # 3 classes x 8 images, 4 per process and iteration: 3 iterations per
    # epoch with 2 processes (6 if only one process took part).
    root = make_toy_classification_set(str(tmp_path / 'toy'))
    work_dir = str(tmp_path / 'work')
    cmd = [
        'bash',
        osp.join(REPO_ROOT, 'tools', 'dist_train.sh'), CONFIG, '2',
        '--work-dir', work_dir, '--cfg-options', 'train_cfg.max_epochs=1',
        'train_dataloader.batch_size=4',
        f'train_dataloader.dataset.data_root={root}',
        f'val_dataloader.dataset.data_root={root}'
    ]
    # No extra flag or env besides a free port, as a user would run it.
    result = subprocess.run(
        cmd,
        cwd=tmp_path,
        env=dict(os.environ, PORT=str(free_port())),
        capture_output=True,
        text=True,
        timeout=300)
    out = result.stdout + result.stderr
    assert result.returncode == 0, out[-4000:]
    assert osp.isfile(osp.join(work_dir, 'epoch_1.pth'))
    assert 'Epoch(train) [1][3/3]' in out
    if not torch.cuda.is_available():
        # Each rank falls back to gloo (ifam_mm.engine.distributed) and says so.
        assert out.count('using the gloo backend') == 2
    log_files = [
        osp.join(dirpath, name) for dirpath, _, names in os.walk(work_dir)
        for name in names if name.endswith('.log')
    ]
    with open(log_files[0]) as f:
        assert 'GPU number: 2' in f.read()  # mmengine's name for world size
