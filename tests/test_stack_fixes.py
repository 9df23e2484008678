# Copyright (c) ifam_mm contributors. All rights reserved.
"""What our tools ask for by name instead of patching the stack
(docs/stack_fixes.md): each shown needed by a control, and to work.

The atomic checkpoint hook has its crash tests in
tests/test_reliability/test_atomic_checkpoints.py.
"""
import json
import os
import os.path as osp
import pickle
import socket
import subprocess
import sys

import mmengine.config.config as mmengine_config
import mmengine.config.utils as mmengine_config_utils
import mmengine.utils.package_utils as mmengine_package_utils
import numpy as np
import pytest
import torch
from mmengine.config import Config
from mmengine.fileio.backends import LocalBackend
from mmengine.logging import MessageHub
from mmengine.runner import CheckpointLoader, save_checkpoint

from ifam_mm.fileio import AtomicLocalBackend
from ifam_mm.utils.config_parsing import prepare_config_parsing
from ifam_mm.utils.safe_loading import runner_checkpoint_loading

REPO_ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))


@pytest.fixture
def runner_checkpoint(tmp_path):
    """A file as mmengine's Runner saves it: a message hub, numpy scalars."""
    hub = MessageHub.get_instance('stack_fixes_test')
    hub.update_scalar('train/loss', np.float64(0.5))
    hub.update_scalar('train/lr', 0.1)
    checkpoint = dict(
        meta=dict(epoch=1, seed=np.int64(7)),
        message_hub=hub.state_dict(),
        state_dict=dict(w=torch.arange(3.)))
    path = str(tmp_path / 'epoch_1.pth')
    save_checkpoint(checkpoint, path)
    return path


def test_runner_checkpoint_needs_the_allow_list(runner_checkpoint):
    # The control: torch's weights-only default refuses it.
    with pytest.raises(pickle.UnpicklingError, match='Unsupported global'):
        CheckpointLoader.load_checkpoint(runner_checkpoint, map_location='cpu')
    allowed = torch.serialization.get_safe_globals()
    with runner_checkpoint_loading():
        loaded = CheckpointLoader.load_checkpoint(
            runner_checkpoint, map_location='cpu')
    assert loaded['meta']['seed'] == 7
    assert torch.equal(loaded['state_dict']['w'], torch.arange(3.))
    # Scoped: torch's process-wide list is as it was.
    assert torch.serialization.get_safe_globals() == allowed


class _RunsCode:

    def __reduce__(self):
        return (os.system, ('echo pwned', ))


def test_checkpoint_that_runs_code_is_refused_inside_the_block(tmp_path):
    path = tmp_path / 'evil.pth'
    torch.save({'state_dict': {}, 'payload': _RunsCode()}, path)
    with pytest.raises(pickle.UnpicklingError, match='posix.system|os.system'):
        with runner_checkpoint_loading():
            CheckpointLoader.load_checkpoint(str(path), map_location='cpu')


def _external_base_config(tmp_path):
    path = tmp_path / 'child.py'
    path.write_text("_base_ = ['mmpretrain::_base_/default_runtime.py']\n")
    return str(path)


def test_mmpretrain_base_configs_resolve_without_pkg_resources(
        tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, 'pkg_resources', None)  # import fails
    # mmengine's own lookups (conftest.py has replaced them for the other
    # tests), restored after the test.
    for name in ('is_installed', 'get_installed_path'):
        monkeypatch.setattr(mmengine_config, name,
                            getattr(mmengine_package_utils, name))
    monkeypatch.setattr(mmengine_config_utils, 'MODULE2PACKAGE',
                        dict(mmengine_config_utils.MODULE2PACKAGE))
    with pytest.raises(ImportError):
        Config.fromfile(_external_base_config(tmp_path))
    assert prepare_config_parsing()  # says what it changed
    cfg = Config.fromfile(_external_base_config(tmp_path))
    assert cfg.default_scope == 'mmpretrain'
    assert prepare_config_parsing() == []  # once


class HalfWrite(BaseException):
    """Stands for a kill in the middle of a write."""


def test_atomic_backend_keeps_the_old_file_when_a_write_is_cut(
        tmp_path, monkeypatch):
    path = str(tmp_path / 'epoch_1.pth')
    real_open = open

    class CutFile:

        def __init__(self, file):
            self.file = file

        def write(self, data):
            self.file.write(data[:len(data) // 2])
            self.file.flush()
            raise HalfWrite

        def __enter__(self):
            return self

        def __exit__(self, *exc_info):
            self.file.close()

    def cut_open(file, mode='r', *args, **kwargs):
        f = real_open(file, mode, *args, **kwargs)
        return CutFile(f) if 'w' in mode else f

    for backend in (LocalBackend(), AtomicLocalBackend()):
        with real_open(path, 'wb') as f:
            f.write(b'old content')
        monkeypatch.setattr('builtins.open', cut_open)
        with pytest.raises(HalfWrite):
            backend.put(b'new content', path)
        monkeypatch.undo()
        with real_open(path, 'rb') as f:
            content = f.read()
        if isinstance(backend, AtomicLocalBackend):
            assert content == b'old content'
            assert os.listdir(tmp_path) == ['epoch_1.pth']  # no temp left
        else:  # the control: mmengine's backend leaves half a file
            assert content == b'new c'


def _free_port():
    with socket.socket() as sock:
        sock.bind(('127.0.0.1', 0))
        return sock.getsockname()[1]


# One rank, in a fresh interpreter: mmengine's init_dist sets the process's
# multiprocessing start method, which the test process must keep.
DISTRIBUTED = r'''
import json
import torch
import torch.distributed as torch_dist
import weakref
from mmengine.config import Config
from mmengine.dist import init_dist
from mmengine.model import MMDistributedDataParallel
from mmengine.registry import MODEL_WRAPPERS

from ifam_mm.engine.distributed import release_process_group, setup_distributed

result = {}
try:  # the control: mmengine's launcher with mmpretrain's default backend
    init_dist('pytorch', backend='nccl')
except Exception as e:
    result['init_dist'] = type(e).__name__
try:  # the control: the DDP the Runner builds by default
    MMDistributedDataParallel(module=torch.nn.Linear(2, 2), device_ids=[0])
except Exception as e:
    result['ddp'] = type(e).__name__

cfg = Config(dict(launcher='pytorch',
                  env_cfg=dict(dist_cfg=dict(backend='nccl', timeout=60))))
setup_distributed(cfg)
result['backend'] = torch_dist.get_backend()
wrapped = MODEL_WRAPPERS.build(cfg.model_wrapper_cfg,
                               default_args=dict(module=torch.nn.Linear(2, 2)))
result['device_ids'] = wrapped.device_ids
result['broadcast_buffers'] = wrapped.broadcast_buffers
# As a Runner holds its DDP: in a reference cycle, which only a collection
# frees; the group's gloo threads must not outlive it into interpreter exit.
wrapped.cycle = [wrapped]
ddp = weakref.ref(wrapped)
del wrapped
release_process_group(barrier=True)
result['released'] = not torch_dist.is_initialized()
result['ddp_freed'] = ddp() is None
print(json.dumps(result))
'''


@pytest.mark.skipif(torch.cuda.is_available(), reason='CPU-only behaviour')
def test_pytorch_launcher_and_ddp_work_without_cuda():
    env = dict(
        os.environ,
        PYTHONPATH=REPO_ROOT,
        RANK='0',
        LOCAL_RANK='0',
        WORLD_SIZE='1',
        MASTER_ADDR='127.0.0.1',
        MASTER_PORT=str(_free_port()))
    out = subprocess.run([sys.executable, '-c', DISTRIBUTED],
                         cwd=REPO_ROOT,
                         env=env,
                         capture_output=True,
                         text=True,
                         timeout=120)
    assert out.returncode == 0, (out.stdout + out.stderr)[-3000:]
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert result == dict(
        init_dist='RuntimeError',  # torch.cuda.set_device: no driver
        ddp='ValueError',  # device_ids for a CPU module
        backend='gloo',
        device_ids=None,
        broadcast_buffers=False,  # as the Runner's default DDP
        released=True,
        ddp_freed=True)
    assert 'using the gloo backend instead of nccl' in out.stdout + out.stderr
