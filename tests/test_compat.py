# Copyright (c) ifam_mm contributors. All rights reserved.
"""The stack fixes in ifam_mm.compat, each shown to be needed and to work."""
import os
import pickle
import socket
import sys

import mmengine.config.config as mmengine_config
import numpy as np
import pytest
import torch
import torch.distributed as torch_dist
from mmengine.config import Config
from mmengine.dist import init_dist
from mmengine.logging import MessageHub
from mmengine.model import MMDistributedDataParallel
from mmengine.runner import CheckpointLoader, save_checkpoint

from ifam_mm import compat


def test_mmengine_checkpoint_loads_with_weights_only(tmp_path):
    hub = MessageHub.get_instance('compat_test')
    hub.update_scalar('train/loss', np.float64(0.5))
    hub.update_scalar('train/lr', 0.1)
    checkpoint = dict(
        meta=dict(epoch=1, seed=np.int64(7)),
        message_hub=hub.state_dict(),
        state_dict=dict(w=torch.arange(3.)))
    path = str(tmp_path / 'epoch_1.pth')
    save_checkpoint(checkpoint, path)
    loaded = CheckpointLoader.load_checkpoint(path, map_location='cpu')
    assert loaded['meta']['seed'] == 7
    assert torch.equal(loaded['state_dict']['w'], torch.arange(3.))


class _RunsCode:

    def __reduce__(self):
        return (os.system, ('echo pwned',))


def test_checkpoint_that_runs_code_is_refused(tmp_path):
    path = tmp_path / 'evil.pth'
    torch.save({'state_dict': {}, 'payload': _RunsCode()}, path)
    with pytest.raises(pickle.UnpicklingError, match='posix.system|os.system'):
        CheckpointLoader.load_checkpoint(str(path), map_location='cpu')


def _external_base_config(tmp_path):
    path = tmp_path / 'child.py'
    path.write_text("_base_ = ['mmpretrain::_base_/default_runtime.py']\n")
    return str(path)


def test_mmpretrain_base_configs_resolve_without_pkg_resources(
        tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, 'pkg_resources', None)  # import fails
    with pytest.raises(ImportError):
        Config.fromfile(_external_base_config(tmp_path))
    monkeypatch.setattr(mmengine_config, 'is_installed', compat._is_installed)
    monkeypatch.setattr(mmengine_config, 'get_installed_path',
                        compat._get_installed_path)
    cfg = Config.fromfile(_external_base_config(tmp_path))
    assert cfg.default_scope == 'mmpretrain'


def _free_port():
    with socket.socket() as sock:
        sock.bind(('127.0.0.1', 0))
        return sock.getsockname()[1]


@pytest.mark.skipif(torch.cuda.is_available(), reason='CPU-only behaviour')
def test_pytorch_launcher_and_ddp_work_without_cuda(monkeypatch):
    for key, value in dict(RANK='0', LOCAL_RANK='0', WORLD_SIZE='1',
                           MASTER_ADDR='127.0.0.1',
                           MASTER_PORT=str(_free_port())).items():
        monkeypatch.setenv(key, value)
    # What mmpretrain's default_runtime.py asks for.
    init_dist('pytorch', backend='nccl')
    try:
        assert torch_dist.get_backend() == 'gloo'
        # The Runner always passes device_ids=[LOCAL_RANK].
        wrapped = MMDistributedDataParallel(
            module=torch.nn.Linear(2, 2), device_ids=[0])
        assert wrapped.device_ids is None
    finally:
        torch_dist.destroy_process_group()
