# Copyright (c) ifam_mm contributors. All rights reserved.
"""Train and test the toy HardMaskViT end to end on generated images.

Runs the same entry points a user runs: ``tools/train.py`` and then
``tools/test.py`` on the last checkpoint, each as a subprocess. Writes
``<work-dir>/results.json`` with the test accuracy and the training time.

Example:
    python tools/demo.py --work-dir work_dirs/demo --quick
"""
import argparse
import os.path as osp
import subprocess
import sys
import time

REPO_ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
# Work from a checkout without installing the package.
sys.path.insert(0, REPO_ROOT)

import mmengine  # noqa: E402
from mmengine.logging import MMLogger, print_log  # noqa: E402

from ifam_mm.testing import make_toy_classification_set  # noqa: E402

CONFIG = osp.join(REPO_ROOT, 'configs', 'hardmask_vit',
                  'hardmask-vit-tiny-p8_1xb16_toy.py')
# (images per class, epochs): the full run reaches about 90-96 % top-1 in
# about half a minute on 2 CPU cores; --quick only shows the pipeline works.
FULL = dict(num_per_class=300, max_epochs=10)
QUICK = dict(num_per_class=150, max_epochs=10)


def parse_args():
    parser = argparse.ArgumentParser(
        description='Train and test the toy HardMaskViT on generated images')
    parser.add_argument(
        '--work-dir',
        default='work_dirs/demo',
        help='directory for the data, checkpoints, logs and results.json')
    parser.add_argument(
        '--quick',
        action='store_true',
        help=f'smaller data and fewer epochs ({QUICK}) instead of {FULL}')
    return parser.parse_args()


def run_tool(script: str, args: list, logger: MMLogger) -> float:
    """Run ``tools/<script>`` with the current interpreter.

    Returns:
        float: Wall-clock seconds the subprocess took.
    """
    cmd = [sys.executable, osp.join(REPO_ROOT, 'tools', script)] + args
    print_log('Running: ' + ' '.join(cmd), logger=logger)
    start = time.perf_counter()
    result = subprocess.run(cmd)
    seconds = time.perf_counter() - start
    if result.returncode != 0:
        raise RuntimeError(f'tools/{script} failed with exit code '
                           f'{result.returncode}; see its log above.')
    return seconds


def main():
    args = parse_args()
    settings = QUICK if args.quick else FULL
    work_dir = osp.abspath(args.work_dir)
    mmengine.mkdir_or_exist(work_dir)
    logger = MMLogger.get_instance(
        'ifam_mm_demo', log_file=osp.join(work_dir, 'demo.log'))

    data_root = osp.join(work_dir, 'data')
    make_toy_classification_set(
        data_root, num_per_class=settings['num_per_class'])
    print_log(
        f'Wrote the toy set ({settings["num_per_class"]} train images per '
        f'class) to {data_root}',
        logger=logger)

    data_options = [
        f'{split}_dataloader.dataset.data_root={data_root}'
        for split in ('train', 'val', 'test')
    ]
    train_dir = osp.join(work_dir, 'train')
    train_seconds = run_tool('train.py', [
        CONFIG, '--work-dir', train_dir, '--cfg-options',
        f'train_cfg.max_epochs={settings["max_epochs"]}'
    ] + data_options, logger)

    # CheckpointHook records the path of the checkpoint it saved last.
    with open(osp.join(train_dir, 'last_checkpoint')) as f:
        checkpoint = f.read().strip()
    metrics_file = osp.join(work_dir, 'test_metrics.json')
    run_tool('test.py', [
        CONFIG, checkpoint, '--work-dir',
        osp.join(work_dir, 'test'), '--out', metrics_file, '--out-item',
        'metrics', '--cfg-options'
    ] + data_options, logger)

    results = dict(
        test_accuracy_top1=mmengine.load(metrics_file)['accuracy/top1'],
        train_seconds=round(train_seconds, 1),
        checkpoint=checkpoint,
        config=CONFIG,
        **settings)
    results_file = osp.join(work_dir, 'results.json')
    mmengine.dump(results, results_file, indent=2)
    print_log(
        f'Test top-1 accuracy {results["test_accuracy_top1"]:.2f} %, '
        f'training took {results["train_seconds"]} s; written to '
        f'{results_file}',
        logger=logger)


if __name__ == '__main__':
    main()
