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
* **No pkg_resources.** setuptools>=81 dropped it; mmengine uses it to resolve
  ``mmpretrain::`` base configs. setup.py pins setuptools<81; if a newer one
  is installed anyway, mmengine's two lookups are replaced by importlib ones.
"""
import atexit
import importlib.util
import os.path as osp
from importlib import metadata

import numpy as np
import torch
import torch.distributed as torch_dist

import mmengine.config.config as mmengine_config
import mmengine.dist.utils as mmengine_dist_utils
from mmengine.logging import HistoryBuffer, print_log
from mmengine.device import (is_cuda_available, is_mlu_available,
                             is_musa_available, is_npu_available)
from mmengine.model import MMDistributedDataParallel


def mmengine_checkpoint_globals() -> list:
    """Non-tensor globals found in checkpoints written by mmengine's Runner.

    Returns:
        list: Objects to pass to ``torch.serialization.add_safe_globals``.
    """
    try:  # numpy>=2
        from numpy._core.multiarray import _reconstruct, scalar
    except ImportError:  # numpy<2
        from numpy.core.multiarray import _reconstruct, scalar
    numeric_dtypes = [
        type(np.dtype(name)) for name in ('bool', 'int8', 'int16', 'int32',
                                          'int64', 'uint8', 'uint16',
                                          'uint32', 'uint64', 'float16',
                                          'float32', 'float64')
    ]
    # ``getattr`` appears because HistoryBuffer pickles its statistic methods
    # by name; the weights-only unpickler still refuses to *call* anything
    # that is not itself allow-listed.
    return [
        HistoryBuffer, np.ndarray, np.dtype, _reconstruct, scalar, getattr
    ] + numeric_dtypes


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


def _release_process_group() -> None:
    if torch_dist.is_available() and torch_dist.is_initialized():
        torch_dist.destroy_process_group()


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

torch.serialization.add_safe_globals(mmengine_checkpoint_globals())
mmengine_dist_utils._init_dist_pytorch = _init_dist_pytorch_any_device
MMDistributedDataParallel.__init__ = _ddp_init_any_device
atexit.register(_release_process_group)
if importlib.util.find_spec('pkg_resources') is None:
    use_importlib_package_lookup()
