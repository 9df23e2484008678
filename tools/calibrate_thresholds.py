# Copyright (c) ifam_mm contributors. All rights reserved.
"""Calibrate the per-part token thresholds of an iFAM checkpoint.

    python tools/calibrate_thresholds.py CONFIG CKPT --quantiles 0.97 0.99

Runs the training split (test-time transforms, eval mode) through stage 1
and writes one threshold file per quantile for ``tools/test.py
--token-thresholds`` (docs/interventions.md). With an ``EMAHook`` in the
config, the EMA weights are calibrated: those the test loop evaluates.
"""
import argparse
import os
import os.path as osp

from mmengine.logging import print_log

from ifam_mm.engine.distributed import release_process_group
from ifam_mm.engine.runner_utils import (
    add_checkpoint_arguments, checkpoint_runner, evaluated_model,
    load_tool_config)
from ifam_mm.interventions.calibration import (
    calibrate_token_thresholds, calibration_dataloader, write_threshold_files)
from ifam_mm.interventions.config import require_ifam_model
from ifam_mm.models.utils.token_thresholds import STATISTICS


def parse_args():
    parser = argparse.ArgumentParser(
        description='Calibrate per-part token thresholds of an iFAM model')
    add_checkpoint_arguments(parser)
    parser.add_argument(
        '--quantiles',
        type=float,
        nargs='+',
        default=[0.97, 0.99],
        help="the paper's q: the share of a part's calibration tokens "
        'kept (one file each)')
    parser.add_argument(
        '--statistic',
        choices=STATISTICS,
        default='distance',
        help="'distance' (the paper, default) or 'dot' (the reference "
        "code, for test_cfg.token_threshold_mode='reference_dot')")
    parser.add_argument(
        '--split',
        choices=['train', 'val', 'test'],
        default='train',
        help='split to calibrate on; train (default) is read with the test '
        'pipeline')
    parser.add_argument(
        '--bins',
        type=int,
        default=4096,
        help='histogram bins per part (error: one bin width, recorded in '
        'each file as max_error)')
    parser.add_argument(
        '--out-dir',
        help='where to write the files (default: token_thresholds/ next to '
        'the checkpoint)')
    return parser.parse_args()


def main():
    args = parse_args()
    cfg = load_tool_config(args.config, args.cfg_options, args.work_dir)
    require_ifam_model(cfg, 'tools/calibrate_thresholds.py',
                       'Calibrate an iFAM config (configs/ifam/).')
    with checkpoint_runner(cfg, args.checkpoint) as runner, \
            evaluated_model(runner) as model:
        dataloader = runner.build_dataloader(
            calibration_dataloader(cfg, args.split))
        estimator = calibrate_token_thresholds(model, dataloader,
                                               args.quantiles, args.statistic,
                                               args.bins)
        # The weights calibrated (EMA ones included) are those the
        # threshold file is keyed to; the block swaps them back.
        prototypes = model.part_head.prototypes.detach().clone()

    out_dir = args.out_dir or osp.join(
        osp.dirname(osp.abspath(args.checkpoint)), 'token_thresholds')
    os.makedirs(out_dir, exist_ok=True)
    paths = write_threshold_files(
        estimator,
        args.quantiles,
        args.statistic,
        out_dir,
        checkpoint=osp.abspath(args.checkpoint),
        prototypes=prototypes,
        split=args.split,
        num_images=len(dataloader.dataset),
        bins=args.bins)
    for path in paths:
        print_log(f'Wrote {path}', logger='current')


if __name__ == '__main__':
    main()
    # ifam_mm: every rank is done; leave the group in step, once main()
    # has dropped its Runner (see release_process_group).
    release_process_group(barrier=True)
