# Copyright (c) ifam_mm contributors. All rights reserved.
"""Building mmengine's Runner in our tools.

:func:`build_runner` is what ``tools/train.py`` and ``tools/test.py`` call
once the config is parsed and merged with their flags. The rest serves the
tools that evaluate a trained checkpoint their own way
(tools/calibrate_thresholds.py, leave_one_out.py, visualize_parts.py).
Such a tool needs what ``tools/test.py`` gets from ``runner.test()``
without running the test loop once: the config parsed as our tools parse
it, the process group, the model built, wrapped and on its device, the
``before_run`` hooks (mmengine's ``EMAHook`` creates the EMA model there,
which its ``after_load_checkpoint`` fills), the checkpoint loaded under
weights-only loading, and the weights the test loop evaluates.

A tool::

    cfg = load_tool_config(args.config, args.cfg_options, args.work_dir)
    with checkpoint_runner(cfg, args.checkpoint) as runner:
        with evaluated_model(runner) as model:
            outputs = model.test_step(data_batch)
"""
import argparse
import contextlib
import os.path as osp
from typing import Iterator, Optional

from mmengine.config import Config, DictAction
from mmengine.hooks import EMAHook
from mmengine.registry import RUNNERS
from mmengine.runner import Runner
from torch import nn

from ..utils.config_parsing import prepare_config_parsing
from ..utils.safe_loading import runner_checkpoint_loading
from .distributed import setup_distributed
from .hooks.utils import unwrap


def build_runner(cfg: Config) -> Runner:
    """The process group ``cfg.launcher`` asks for (:func:`setup_distributed`:
    gloo without a GPU), then the Runner, or the config's ``runner_type``.

    Args:
        cfg (Config): The complete config.

    Returns:
        Runner: Built from ``cfg``.
    """
    setup_distributed(cfg)
    return RUNNERS.build(cfg) if 'runner_type' in cfg else Runner.from_cfg(cfg)


def add_checkpoint_arguments(parser: argparse.ArgumentParser) -> None:
    """Add what :func:`load_tool_config` and :func:`checkpoint_runner` take:
    ``config``, ``checkpoint``, ``--work-dir`` and ``--cfg-options``."""
    parser.add_argument('config', help='config file path')
    parser.add_argument('checkpoint', help='checkpoint file')
    parser.add_argument(
        '--work-dir', help='directory for the logs of this run')
    parser.add_argument(
        '--cfg-options',
        nargs='+',
        action=DictAction,
        help='override config settings, as in tools/test.py')


def load_tool_config(config: str,
                     cfg_options: Optional[dict] = None,
                     work_dir: Optional[str] = None) -> Config:
    """Parse a config as ``tools/test.py`` does.

    Args:
        config (str): Config file; ``_base_`` may name ``mmpretrain::`` and
            ``ifam_mm::`` files.
        cfg_options (dict, optional): ``--cfg-options``, merged in.
        work_dir (str, optional): ``--work-dir``; by default the config's,
            else ``./work_dirs/<config name>``.

    Returns:
        Config: The config, ``work_dir`` set.
    """
    prepare_config_parsing()
    cfg = Config.fromfile(config)
    if cfg_options is not None:
        cfg.merge_from_dict(cfg_options)
    cfg.work_dir = work_dir or cfg.get('work_dir') or osp.join(
        './work_dirs',
        osp.splitext(osp.basename(config))[0])
    return cfg


@contextlib.contextmanager
def checkpoint_runner(cfg: Config, checkpoint: str) -> Iterator[Runner]:
    """A Runner with ``checkpoint`` loaded, as ``runner.test()`` prepares
    it before its loop: ``before_run`` hooks first, then the checkpoint;
    ``after_run`` hooks when the block ends. The process group stays: the
    tool leaves it once it holds no Runner (``release_process_group``).

    Args:
        cfg (Config): From :func:`load_tool_config`, with the tool's own
            changes (``cfg.launcher``, if set, is honoured).
        checkpoint (str): A checkpoint of mmengine's Runner (or a file with
            a ``state_dict``).

    Yields:
        Runner: From :func:`build_runner`.
    """
    cfg.load_from = checkpoint
    runner = build_runner(cfg)
    runner.call_hook('before_run')
    with runner_checkpoint_loading():
        runner.load_or_resume()
    yield runner
    runner.call_hook('after_run')


@contextlib.contextmanager
def evaluated_model(runner: Runner) -> Iterator[nn.Module]:
    """The model as the test loop evaluates it, for code that calls it
    directly: unwrapped, in eval mode, with the EMA weights of an
    ``EMAHook`` swapped in for the block (mmpretrain's hook evaluates on
    them unless ``evaluate_on_ema=False``; mmengine's always does).

    Args:
        runner (Runner): From :func:`checkpoint_runner`.

    Yields:
        nn.Module: The model.
    """
    swapped = [
        hook for hook in runner.hooks if isinstance(hook, EMAHook)
        and getattr(hook, 'evaluate_on_ema', True)
    ]
    # The swap EMAHook does in before_test_epoch / after_test_epoch;
    # calling those would also run mmpretrain's evaluate_on_origin test.
    for hook in swapped:
        hook._swap_ema_parameters()
    model = unwrap(runner.model).eval()
    try:
        yield model
    finally:
        for hook in reversed(swapped):
            hook._swap_ema_parameters()
