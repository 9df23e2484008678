# Copyright (c) OpenMMLab. All rights reserved.
# Copied from mmpretrain 1.2.0 tools/train.py (Apache-2.0); ifam_mm
# modifications are marked with `ifam_mm:` comments.
import argparse
import os
import os.path as osp
from copy import deepcopy

import torch
from mmengine.config import Config, ConfigDict, DictAction
from mmengine.logging import print_log

# ifam_mm: what this copy adds to mmpretrain's train.py (docs/stack_fixes.md):
# `ifam_mm::` / pkg_resources-less config parsing, the process group (gloo
# on a CPU-only machine), and weights-only loading of runner checkpoints.
from ifam_mm.engine.distributed import release_process_group
from ifam_mm.engine.runner_utils import build_runner
from ifam_mm.utils.config_parsing import prepare_config_parsing
from ifam_mm.utils.safe_loading import runner_checkpoint_loading


def parse_args():
    parser = argparse.ArgumentParser(description='Train a model')
    parser.add_argument('config', help='train config file path')
    parser.add_argument('--work-dir', help='the dir to save logs and models')
    parser.add_argument(
        '--resume',
        nargs='?',
        type=str,
        const='auto',
        help='If specify checkpoint path, resume from it, while if not '
        'specify, try to auto resume from the latest checkpoint '
        'in the work directory.')
    # ifam_mm: the help names the CPU fallback (see merge_args).
    parser.add_argument(
        '--amp',
        action='store_true',
        help='enable automatic-mixed-precision training (bfloat16 autocast '
        'when no GPU is available)')
    parser.add_argument(
        '--no-validate',
        action='store_true',
        help='whether not to evaluate the checkpoint during training')
    parser.add_argument(
        '--auto-scale-lr',
        action='store_true',
        help='whether to auto scale the learning rate according to the '
        'actual batch size and the original batch size.')
    parser.add_argument(
        '--no-pin-memory',
        action='store_true',
        help='whether to disable the pin_memory option in dataloaders.')
    parser.add_argument(
        '--no-persistent-workers',
        action='store_true',
        help='whether to disable the persistent_workers option in dataloaders.'
    )
    parser.add_argument(
        '--cfg-options',
        nargs='+',
        action=DictAction,
        help='override some settings in the used config, the key-value pair '
        'in xxx=yyy format will be merged into config file. If the value to '
        'be overwritten is a list, it should be like key="[a,b]" or key=a,b '
        'It also allows nested list/tuple values, e.g. key="[(a,b),(c,d)]" '
        'Note that the quotation marks are necessary and that no white space '
        'is allowed.')
    parser.add_argument(
        '--launcher',
        choices=['none', 'pytorch', 'slurm', 'mpi'],
        default='none',
        help='job launcher')
    # When using PyTorch version >= 2.0.0, the `torch.distributed.launch`
    # will pass the `--local-rank` parameter to `tools/train.py` instead
    # of `--local_rank`.
    parser.add_argument('--local_rank', '--local-rank', type=int, default=0)
    args = parser.parse_args()
    if 'LOCAL_RANK' not in os.environ:
        os.environ['LOCAL_RANK'] = str(args.local_rank)

    return args


def merge_args(cfg, args):
    """Merge CLI arguments to config."""
    if args.no_validate:
        cfg.val_cfg = None
        cfg.val_dataloader = None
        cfg.val_evaluator = None

    cfg.launcher = args.launcher

    # work_dir is determined in this priority: CLI > segment in file > filename
    if args.work_dir is not None:
        # update configs according to CLI args if args.work_dir is not None
        cfg.work_dir = args.work_dir
    elif cfg.get('work_dir', None) is None:
        # use config filename as default work_dir if cfg.work_dir is None
        cfg.work_dir = osp.join('./work_dirs',
                                osp.splitext(osp.basename(args.config))[0])

    # enable automatic-mixed-precision training
    if args.amp is True:
        # ifam_mm: mmengine's AmpOptimWrapper asserts a CUDA/NPU/MLU device,
        # so without CUDA use bfloat16 CPU autocast, which needs no loss
        # scaling. Drop AmpOptimWrapper-only arguments a config may carry.
        if torch.cuda.is_available():
            cfg.optim_wrapper.type = 'AmpOptimWrapper'
            cfg.optim_wrapper.setdefault('loss_scale', 'dynamic')
        else:
            cfg.optim_wrapper.type = 'CPUAutocastOptimWrapper'
            for amp_only_arg in ('loss_scale', 'dtype', 'use_fsdp'):
                cfg.optim_wrapper.pop(amp_only_arg, None)
            print_log(
                'No CUDA device: --amp trains with CPUAutocastOptimWrapper '
                '(bfloat16 autocast) instead of AmpOptimWrapper.',
                logger='current')

    # resume training
    if args.resume == 'auto':
        cfg.resume = True
        cfg.load_from = None
    elif args.resume is not None:
        cfg.resume = True
        cfg.load_from = args.resume

    # enable auto scale learning rate
    if args.auto_scale_lr:
        cfg.auto_scale_lr.enable = True

    # set dataloader args
    # ifam_mm: `persistent_workers` is defaulted in `set_persistent_workers`
    # below, after `--cfg-options`, because it depends on `num_workers`.
    default_dataloader_cfg = ConfigDict(
        pin_memory=True,
        collate_fn=dict(type='default_collate'),
    )

    def set_default_dataloader_cfg(cfg, field):
        if cfg.get(field, None) is None:
            return
        dataloader_cfg = deepcopy(default_dataloader_cfg)
        dataloader_cfg.update(cfg[field])
        cfg[field] = dataloader_cfg
        if args.no_pin_memory:
            cfg[field]['pin_memory'] = False
        if args.no_persistent_workers:
            cfg[field]['persistent_workers'] = False

    # ifam_mm: torch's DataLoader raises `ValueError: persistent_workers
    # option needs num_workers > 0`, so default it to True only when the
    # dataloader (after `--cfg-options`) has worker processes.
    def set_persistent_workers(cfg, field):
        if cfg.get(field, None) is None:
            return
        cfg[field].setdefault('persistent_workers',
                              cfg[field].get('num_workers', 0) > 0)

    set_default_dataloader_cfg(cfg, 'train_dataloader')
    set_default_dataloader_cfg(cfg, 'val_dataloader')
    set_default_dataloader_cfg(cfg, 'test_dataloader')

    if args.cfg_options is not None:
        cfg.merge_from_dict(args.cfg_options)

    set_persistent_workers(cfg, 'train_dataloader')
    set_persistent_workers(cfg, 'val_dataloader')
    set_persistent_workers(cfg, 'test_dataloader')

    return cfg


def main():
    args = parse_args()

    # ifam_mm: before `Config.fromfile`, which resolves the `_base_` files.
    prepare_config_parsing()

    # load config
    cfg = Config.fromfile(args.config)

    # merge cli arguments to config
    cfg = merge_args(cfg, args)

    # ifam_mm: the process group first (gloo without a GPU), then the Runner
    # (or the config's `runner_type`).
    runner = build_runner(cfg)

    # start training
    # ifam_mm: --resume, load_from and `Pretrained` runner checkpoints load
    # with torch's weights-only unpickler and an allow-list of what they
    # hold (the message hub's HistoryBuffer, numpy scalars).
    with runner_checkpoint_loading():
        runner.train()


if __name__ == '__main__':
    main()
    # ifam_mm: every rank is done; leave the group in step, once main()
    # has dropped its Runner (see release_process_group).
    release_process_group(barrier=True)
