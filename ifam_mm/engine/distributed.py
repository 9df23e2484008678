# Copyright (c) ifam_mm contributors. All rights reserved.
"""The process group of a distributed run, started and left by our tools.

mmengine's Runner starts the process group only where none exists, with
``init_dist``, whose pytorch launcher calls ``torch.cuda.set_device`` and
uses the config's backend (``nccl``); and it wraps the model in DDP with
``device_ids=[LOCAL_RANK]``, which DDP refuses for a CPU model. So on a
machine without GPU, ``tools/dist_train.sh`` would fail twice. Our tools
call :func:`setup_distributed` before they build the Runner and
:func:`release_process_group` at their end; nothing here runs on import.
"""
import datetime
import gc

import torch.distributed as torch_dist
from torch.nn.parallel import DistributedDataParallel
from mmengine.config import Config
from mmengine.device import (is_cuda_available, is_mlu_available,
                             is_musa_available, is_npu_available)
from mmengine.dist import init_dist
from mmengine.logging import print_log
from mmengine.registry import MODEL_WRAPPERS
from mmengine.utils.dl_utils import set_multi_processing


def _has_accelerator() -> bool:
    """Whether mmengine's launchers find a device to bind each rank to."""
    return (is_cuda_available() or is_npu_available() or is_mlu_available()
            or is_musa_available())


def setup_distributed(cfg: Config) -> None:
    """Start the process group that ``cfg.launcher`` asks for, before the
    Runner is built from ``cfg``.

    With an accelerator this is what the Runner itself would do: mmengine's
    ``init_dist`` with ``env_cfg.dist_cfg``. Without one, and with the
    pytorch launcher (torchrun, ``tools/dist_train.sh``), it starts a gloo
    group instead (logged) and sets ``cfg.model_wrapper_cfg`` to the DDP
    the Runner builds by default, with ``device_ids=None`` (a config's own
    DDP ``model_wrapper_cfg`` keeps its settings and gets that default).
    Nothing happens for ``launcher='none'`` or where a group exists.

    Args:
        cfg (Config): The config the Runner is built from; ``launcher``
            set (``--launcher``).

    Raises:
        ValueError: A launcher other than pytorch without an accelerator.
    """
    launcher = cfg.get('launcher', 'none')
    if launcher == 'none' or (torch_dist.is_available()
                              and torch_dist.is_initialized()):
        return
    env_cfg = cfg.get('env_cfg') or {}
    dist_cfg = dict(env_cfg.get('dist_cfg') or {})
    # The Runner's order: without it, init_dist would pick 'spawn' and the
    # Runner then warn that it switches to the config's start method.
    set_multi_processing(**env_cfg.get('mp_cfg', {}), distributed=True)
    if _has_accelerator():
        init_dist(launcher, **dist_cfg)
        return
    if launcher != 'pytorch':
        raise ValueError(
            f'--launcher {launcher} needs a GPU (mmengine binds each rank '
            'to one). Without a GPU, start the processes with torchrun or '
            'tools/dist_train.sh (--launcher pytorch), which train on the '
            'CPU with gloo.')
    backend = dist_cfg.pop('backend', 'nccl')
    if backend != 'gloo':
        print_log(
            f'No CUDA device: using the gloo backend instead of {backend}.',
            logger='current')
    if dist_cfg.get('timeout') is not None:  # seconds, as init_dist takes
        dist_cfg['timeout'] = datetime.timedelta(seconds=dist_cfg['timeout'])
    torch_dist.init_process_group(backend='gloo', **dist_cfg)

    # What Runner.wrap_model builds without model_wrapper_cfg, except for
    # device_ids, which DDP accepts only as None for a CPU module.
    wrapper = cfg.get('model_wrapper_cfg') or dict(
        type='MMDistributedDataParallel',
        broadcast_buffers=False,
        find_unused_parameters=cfg.get('find_unused_parameters', False))
    wrapper.setdefault('type', 'MMDistributedDataParallel')
    wrapper_type = MODEL_WRAPPERS.get(wrapper['type'])
    if wrapper_type is None or issubclass(wrapper_type,
                                          DistributedDataParallel):
        wrapper.setdefault('device_ids', None)
    cfg.model_wrapper_cfg = wrapper


def release_process_group(barrier: bool = False) -> None:
    """Destroy the default process group, if any, after a garbage
    collection.

    mmengine never does; left to interpreter exit, a gloo worker can abort
    ("terminate called without an active exception") while its threads
    live. Destroying the group is not enough on its own: DDP's reducer holds
    the group too, and the Runner's reference cycles keep the reducer alive
    until a collection, or until interpreter exit. So call this once the
    caller holds no Runner (our tools: after ``main()`` returns); the
    collection here frees it, and the group's threads are joined while the
    interpreter is fully alive.

    Args:
        barrier (bool): Wait for every rank first. Only where all ranks are
            known to get there (the end of training or testing).
    """
    if torch_dist.is_available() and torch_dist.is_initialized():
        if barrier:
            torch_dist.barrier()
        gc.collect()
        torch_dist.destroy_process_group()
