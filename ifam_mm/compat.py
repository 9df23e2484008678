# Copyright (c) ifam_mm contributors. All rights reserved.
"""Runtime fixes for the current torch / mmengine / setuptools stack.

Imported first by ``ifam_mm/__init__.py``, so every entry point that imports
the plugin (our tools, ``custom_imports`` in a config, each torchrun worker)
gets them. Each fix is narrow and documented in ``docs/compat.md``:

* **Safe checkpoint loading.** torch>=2.6 loads with ``weights_only=True``;
  mmengine checkpoints hold a few non-tensor objects (the message hub's
  ``HistoryBuffer``, numpy scalars). We allow-list exactly those instead of
  switching safe loading off.
* **Distributed on CPU.** mmengine's pytorch launcher calls
  ``torch.cuda.set_device`` and uses the config's backend (``nccl``), and the
  Runner passes ``device_ids=[LOCAL_RANK]`` to DDP. Without CUDA we skip
  ``set_device``, use ``gloo`` and give DDP ``device_ids=None``, so the same
  command trains on GPUs and on a CPU-only machine. The process group is
  destroyed at exit: mmengine never does, and a gloo worker can then abort
  ("terminate called without an active exception") while its threads live.
* **Checkpoints survive a kill.** mmengine writes checkpoints and the
  ``last_checkpoint`` pointer in place, re-saves the last checkpoint after
  each validation that improves the best score, and deletes the checkpoint
  that falls out of ``max_keep_ckpts`` before saving the new one: a kill at
  the wrong moment left a truncated "last" checkpoint, or none. Files are
  now written to a temporary sibling and renamed into place, and old
  checkpoints are deleted only once the new one is saved
  (docs/reliability.md).
* **No pkg_resources.** setuptools>=81 dropped it; mmengine uses it to resolve
  ``mmpretrain::`` base configs. setup.py pins setuptools<81; if a newer one
  is installed anyway, mmengine's two lookups are replaced by importlib ones.
"""
import atexit
import contextlib
import functools
import importlib.util
import io
import os
import os.path as osp
from importlib import metadata

import numpy as np
import torch
import torch.distributed as torch_dist

import mmengine
import mmengine.config.config as mmengine_config
import mmengine.dist.utils as mmengine_dist_utils
import mmengine.hooks.checkpoint_hook as mmengine_checkpoint_hook
from mmengine.logging import HistoryBuffer, print_log
from mmengine.device import (is_cuda_available, is_mlu_available,
                             is_musa_available, is_npu_available)
from mmengine.fileio.backends import LocalBackend
from mmengine.hooks import CheckpointHook
from mmengine.model import MMDistributedDataParallel


def _init_dist_pytorch_any_device(backend: str,
                                  init_backend: str = 'torch',
                                  **kwargs) -> None:
    """mmengine's pytorch-launcher init, made to work without accelerator."""
    if (is_cuda_available() or is_npu_available() or is_mlu_available()
            or is_musa_available()):
        return _original_init_dist_pytorch(
            backend, init_backend=init_backend, **kwargs)
    if backend != 'gloo':
        print_log(
            f'No CUDA device: using the gloo backend instead of {backend}.',
            logger='current')
    torch_dist.init_process_group(backend='gloo', **kwargs)


def _ddp_init_any_device(self, module, detect_anomalous_params=False,
                         **kwargs):
    """MMDistributedDataParallel.__init__ that accepts CPU modules."""
    first_param = next(module.parameters(), None)
    if first_param is not None and first_param.device.type == 'cpu':
        # DDP rejects device_ids for CPU modules; the Runner always sets it.
        kwargs['device_ids'] = None
        kwargs.pop('output_device', None)
    _original_ddp_init(
        self,
        module,
        detect_anomalous_params=detect_anomalous_params,
        **kwargs)


def release_process_group(barrier: bool = False) -> None:
    """Destroy the default process group, if any.

    Args:
        barrier (bool): Wait for every rank first. Only where all ranks
            are known to get there (the end of training); never at exit,
            where a rank that failed would leave the others waiting.
    """
    if torch_dist.is_available() and torch_dist.is_initialized():
        if barrier:
            torch_dist.barrier()
        torch_dist.destroy_process_group()


def write_atomically(filepath, data, mode: str = 'wb', **kwargs) -> None:
    """Write a file so that a kill at any moment leaves the old content or
    the new one, never part of it.

    The data go to a temporary sibling, are flushed to the disk, and the
    sibling is renamed over ``filepath`` (``os.replace`` is atomic within a
    file system).

    Args:
        filepath (str | Path): Destination.
        data (bytes | str): Content.
        mode (str): ``'wb'`` or ``'w'``. Defaults to ``'wb'``.
        **kwargs: Passed to ``open`` (``encoding``).
    """
    tmp = f'{filepath}.{os.getpid()}.tmp'
    try:
        with open(tmp, mode, **kwargs) as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, filepath)
    except BaseException:
        with contextlib.suppress(OSError):
            os.remove(tmp)
        raise


def _put_atomically(self, obj: bytes, filepath) -> None:
    """``LocalBackend.put`` (how ``save_checkpoint`` writes), atomic."""
    mmengine.mkdir_or_exist(osp.dirname(filepath))
    write_atomically(filepath, obj, 'wb')


def _put_text_atomically(self, obj: str, filepath,
                         encoding: str = 'utf-8') -> None:
    """``LocalBackend.put_text``, atomic."""
    mmengine.mkdir_or_exist(osp.dirname(filepath))
    write_atomically(filepath, obj, 'w', encoding=encoding)


@contextlib.contextmanager
def _open_replacing(file, mode: str = 'r', **kwargs):
    """``open`` as seen by mmengine's checkpoint_hook module, whose one
    call writes ``last_checkpoint`` with a plain ``open(path, 'w')``: the
    text replaces the old pointer atomically when the block ends."""
    if 'w' not in mode:
        with open(file, mode, **kwargs) as f:
            yield f
        return
    buffer = io.BytesIO() if 'b' in mode else io.StringIO()
    yield buffer
    write_atomically(file, buffer.getvalue(), mode, **kwargs)


def _delete_after_saving(method):
    """Wrap a CheckpointHook entry point so that the checkpoints it deletes
    (past ``max_keep_ckpts``, the previous best) go only after it saved
    the new ones, and never the ones it just designated."""

    @functools.wraps(method)
    def wrapper(self, runner, *args, **kwargs):
        backend = getattr(self, 'file_backend', None)
        if backend is None:  # before before_train: nothing to delete
            return method(self, runner, *args, **kwargs)
        outdated = []
        backend.remove = outdated.append  # shadows the method, this call
        try:
            result = method(self, runner, *args, **kwargs)
        finally:
            del backend.remove
        current = {
            getattr(self, 'last_ckpt', None),
            getattr(self, 'best_ckpt_path', None),
            *getattr(self, 'best_ckpt_path_dict', {}).values()
        }
        for path in outdated:
            if path not in current:
                backend.remove(path)
        return result

    return wrapper


def _is_installed(package: str) -> bool:
    return importlib.util.find_spec(package) is not None


def _get_installed_path(package: str) -> str:
    """Directory of an installed package, as mmengine's helper returns."""
    try:
        dist = metadata.distribution(package)
        top_level = (dist.read_text('top_level.txt') or package).split()[0]
        spec = importlib.util.find_spec(top_level)
    except metadata.PackageNotFoundError:
        spec = importlib.util.find_spec(package)
    if spec is None or spec.origin is None:
        raise ModuleNotFoundError(f'{package} is not installed.')
    return osp.dirname(spec.origin)


def use_importlib_package_lookup() -> None:
    """Make mmengine's config parser work without ``pkg_resources``."""
    mmengine_config.is_installed = _is_installed
    mmengine_config.get_installed_path = _get_installed_path


_original_init_dist_pytorch = mmengine_dist_utils._init_dist_pytorch
_original_ddp_init = MMDistributedDataParallel.__init__
_original_local_put = LocalBackend.put
_original_local_put_text = LocalBackend.put_text
_original_checkpoint_hook_methods = {
    name: getattr(CheckpointHook, name)
    for name in ('after_train_iter', 'after_train_epoch', 'after_val_epoch')
}

mmengine_dist_utils._init_dist_pytorch = _init_dist_pytorch_any_device
MMDistributedDataParallel.__init__ = _ddp_init_any_device
atexit.register(release_process_group)
LocalBackend.put = _put_atomically
LocalBackend.put_text = _put_text_atomically
mmengine_checkpoint_hook.open = _open_replacing
for _name, _method in _original_checkpoint_hook_methods.items():
    setattr(CheckpointHook, _name, _delete_after_saving(_method))
if importlib.util.find_spec('pkg_resources') is None:
    use_importlib_package_lookup()
