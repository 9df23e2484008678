# Copyright (c) ifam_mm contributors. All rights reserved.
"""Evaluate an iFAM checkpoint with each part removed in turn.

    python tools/leave_one_out.py CONFIG CKPT [--split val|test] [--select]
        [--token-thresholds FILE] [--metric KEY] [--out-dir DIR]

Prints and saves a table and a bar chart; with ``--select``, greedily picks
the parts whose removal raises ``--metric`` and writes them as a config
snippet (docs/interventions.md).
"""
import argparse
import json
import os
import os.path as osp

from mmengine.logging import print_log

from ifam_mm.engine.distributed import release_process_group
from ifam_mm.engine.runner_utils import (
    add_checkpoint_arguments, checkpoint_runner, load_tool_config)
from ifam_mm.engine.hooks.utils import unwrap
from ifam_mm.interventions.config import require_ifam_model, set_interventions
from ifam_mm.interventions.leave_one_out import (
    RemovalEvaluator, check_metric_keys, format_table, intervention_snippet,
    save_bar_chart)


def parse_args():
    parser = argparse.ArgumentParser(
        description='Leave-one-out part removal of an iFAM model')
    add_checkpoint_arguments(parser)
    parser.add_argument(
        '--split',
        choices=['val', 'test'],
        default='val',
        help='split to evaluate on (default val: select parts there, report '
        'on test)')
    parser.add_argument(
        '--token-thresholds',
        metavar='FILE',
        help='also apply a file of tools/calibrate_thresholds.py')
    parser.add_argument(
        '--metric',
        default='group/worst_group_acc',
        help='metric to rank removals by (higher is better)')
    parser.add_argument(
        '--average-metric',
        default='accuracy/top1',
        help='second metric of the table')
    parser.add_argument(
        '--select',
        action='store_true',
        help='greedily pick parts whose removal raises --metric; write '
        'intervention.py')
    parser.add_argument(
        '--out-dir',
        help='where to write the results (default: WORK_DIR/leave_one_out)')
    return parser.parse_args()


def load_config(args):
    cfg = load_tool_config(args.config, args.cfg_options, args.work_dir)
    require_ifam_model(cfg, 'tools/leave_one_out.py',
                       'Run it on an iFAM config (configs/ifam/).')
    if args.token_thresholds:
        # Absolute, so that the written intervention.py works from anywhere.
        set_interventions(
            cfg, token_thresholds=osp.abspath(args.token_thresholds))
    if args.split == 'val':
        # The test loop runs whichever split is chosen, as tools/test.py
        # would on it.
        cfg.test_dataloader = cfg.val_dataloader
        cfg.test_evaluator = cfg.val_evaluator
    return cfg


def main():
    args = parse_args()
    with checkpoint_runner(load_config(args), args.checkpoint) as runner:
        model = unwrap(runner.model)
        # Parts the config already removes stay removed in every
        # evaluation.
        fixed = list(model.test_cfg['remove_parts'])

        # One test-loop run (its hooks, the EMA swap included) per removal.
        def evaluate(parts):
            model.test_cfg['remove_parts'] = parts
            return runner.test_loop.run()

        search = RemovalEvaluator(evaluate, model.part_head.num_parts, fixed)
        check_metric_keys(
            search(()), (args.metric, args.average_metric), args.split)
        rows = search.leave_one_out()
        table = format_table(rows, args.metric, args.average_metric)
        print_log(
            f'Leave-one-out on {args.split} (removed besides {fixed}):\n'
            f'{table}',
            logger='current')
        record = dict(
            checkpoint=osp.abspath(args.checkpoint),
            split=args.split,
            fixed_parts=fixed,
            token_thresholds=model.test_cfg['token_thresholds'],
            metric=args.metric,
            average_metric=args.average_metric,
            rows=[dict(remove_parts=list(p), metrics=m) for p, m in rows])
        if args.select:
            chosen, steps = search.greedy_selection(args.metric)
            record['selection'] = dict(remove_parts=chosen, steps=steps)
            base = search(())[args.metric]
            best = search(chosen)[args.metric]

    out_dir = args.out_dir or osp.join(runner.work_dir, 'leave_one_out')
    os.makedirs(out_dir, exist_ok=True)
    with open(osp.join(out_dir, 'leave_one_out.json'), 'w') as f:
        json.dump(record, f, indent=2)
    with open(osp.join(out_dir, 'leave_one_out.md'), 'w') as f:
        f.write(table + '\n')
    save_bar_chart(rows, args.metric, args.average_metric,
                   osp.join(out_dir, 'leave_one_out.png'))
    if args.select:
        print_log(f'Selected remove_parts={chosen}: {args.metric} '
                  f'{base:.2f} -> {best:.2f} on {args.split}.',
                  logger='current')
        snippet = intervention_snippet(
            osp.abspath(args.config), chosen, record['token_thresholds'],
            model.test_cfg['token_threshold_mode'],
            f'Written by tools/leave_one_out.py --select: {args.metric} '
            f'{base:.2f} -> {best:.2f} on {args.split}\n'
            f'for {record["checkpoint"]}.')
        with open(osp.join(out_dir, 'intervention.py'), 'w') as f:
            f.write(snippet)
    print_log(f'Results in {out_dir}', logger='current')


if __name__ == '__main__':
    main()
    # ifam_mm: every rank is done; leave the group in step, once main()
    # has dropped its Runner (see release_process_group).
    release_process_group(barrier=True)
