# Copyright (c) ifam_mm contributors. All rights reserved.
"""ERM versus the pixel-masked upper bound on the default SpuriousShapes.

For each seed, trains a tiny ViT twice with the mmengine Runner (stock
``ImageClassifier`` on ``HardMaskViT`` without a mask, ``LinearClsHead``):

- ``erm``: on the images as they are;
- ``pixel_mask``: on the images with the ground-truth foreground mask applied
  to the pixels (``FillBackground``: background set to a constant, in
  training and test), so no spurious cue reaches the model.

The seed draws both the data and the model. It prints the test worst-group
and average accuracy of both (mean +- std over seeds) beside the
worst-group accuracy of a coin flip, and how much background a ground-truth
token mask lets through at the dataset's patch size. A benchmark, not a
test::

    python tools/benchmarks/erm_vs_pixel_mask.py [--seeds 0 1 2]
        [--iters 1000] [--cue background] [--work-dir DIR]
"""
import argparse
import json
import os.path as osp
import time

import numpy as np
import torch
from mmengine.config import Config
from mmengine.runner import Runner

import ifam_mm  # noqa: F401  (registers the plugin's modules)
from ifam_mm.datasets.spurious_shapes import (SpuriousShapes,
                                              decode_label_map, token_leakage)
from ifam_mm.utils.config_parsing import prepare_config_parsing

REPO_ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))

DATASET_CFG = osp.join(REPO_ROOT, 'configs', '_base_', 'datasets',
                       'spurious_shapes.py')
MODELS = ('erm', 'pixel_mask')


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--seeds', type=int, nargs='+', default=[0, 1, 2])
    parser.add_argument(
        '--iters', type=int, default=1000, help='training iterations')
    parser.add_argument('--batch-size', type=int, default=32)
    parser.add_argument('--lr', type=float, default=1e-3)
    parser.add_argument(
        '--cue',
        default='background',
        choices=('background', 'cooccurring_object'))
    parser.add_argument(
        '--fg-source', default=None, help='dataset default if not given')
    parser.add_argument('--data-root', default='data/spurious_shapes')
    parser.add_argument('--work-dir', default='work_dirs/erm_vs_pixel_mask')
    # One thread: a second one does not speed up a 64-wide ViT, and it slows
    # it down several times when other processes share the cores.
    parser.add_argument(
        '--threads', type=int, default=1, help='torch CPU threads')
    return parser.parse_args()


def build_cfg(model: str, seed: int, args: argparse.Namespace) -> Config:
    """Dataset base config + a tiny ViT + a short AdamW schedule."""
    prepare_config_parsing()  # as our tools: ifam_mm::, no pkg_resources
    cfg = Config.fromfile(DATASET_CFG)
    data = dict(seed=seed, cue=args.cue, data_root=args.data_root)
    if args.fg_source:
        data['fg_source'] = args.fg_source
    img_size = cfg.spurious_shapes.img_size
    for loader in ('train_dataloader', 'test_dataloader'):
        cfg[loader].dataset.update(data)
        if model == 'pixel_mask':
            # Right after the masks are loaded, before packing.
            cfg[loader].dataset.pipeline.insert(
                2, dict(type='FillBackground'))
    cfg.train_dataloader.batch_size = args.batch_size
    # Iteration-based training draws batches from an endless stream.
    cfg.train_dataloader.sampler = dict(type='InfiniteSampler', shuffle=True)
    cfg.merge_from_dict(
        dict(
            default_scope='mmpretrain',
            work_dir=osp.join(args.work_dir, f'{model}_seed{seed}'),
            model=dict(
                type='ImageClassifier',
                data_preprocessor=cfg.data_preprocessor,
                backbone=dict(
                    type='HardMaskViT',
                    arch='vit_small_patch14_reg4_dinov2',
                    img_size=img_size,
                    patch_size=cfg.spurious_shapes.patch_size,
                    embed_dim=64,
                    depth=4,
                    num_heads=2),
                head=dict(
                    type='LinearClsHead',
                    num_classes=2,
                    in_channels=64,
                    loss=dict(type='CrossEntropyLoss'))),
            optim_wrapper=dict(
                optimizer=dict(type='AdamW', lr=args.lr, weight_decay=0.05)),
            param_scheduler=[
                dict(
                    type='LinearLR',
                    start_factor=0.1,
                    by_epoch=False,
                    end=args.iters // 20),
                dict(
                    type='CosineAnnealingLR',
                    by_epoch=False,
                    begin=args.iters // 20,
                    end=args.iters,
                    eta_min=1e-5),
            ],
            # A fixed budget, no model selection: the test split is read
            # once, at the end.
            train_cfg=dict(by_epoch=False, max_iters=args.iters),
            val_dataloader=None,
            val_cfg=None,
            val_evaluator=None,
            test_cfg=dict(),
            default_hooks=dict(
                timer=dict(type='IterTimerHook'),
                logger=dict(type='LoggerHook', interval=args.iters // 5),
                param_scheduler=dict(type='ParamSchedulerHook'),
                sampler_seed=dict(type='DistSamplerSeedHook')),
            log_processor=dict(by_epoch=False),
            env_cfg=dict(dist_cfg=dict(backend='gloo')),
            randomness=dict(seed=seed),
            log_level='WARNING'))
    return cfg


def coin_flip_wga(group_sizes, trials: int = 20000) -> float:
    """Expected worst-group accuracy of a classifier that flips a coin."""
    rng = np.random.default_rng(0)
    hits = [rng.binomial(n, 0.5, size=trials) / n for n in group_sizes]
    return float(np.min(hits, axis=0).mean())


def leakage(test: SpuriousShapes) -> dict:
    """Patch-boundary leakage of ground-truth token masks on ``test``."""
    import cv2
    masks = np.stack([
        decode_label_map(
            cv2.imread(test.get_data_info(i)['mask_path'],
                       cv2.IMREAD_UNCHANGED))['gt_fg_mask']
        for i in range(len(test))
    ])
    patch = test.params['patch_size']
    return {
        rule: token_leakage(masks, patch, threshold)
        for rule, threshold in (('fg>=50%', 0.5), ('any_fg', 0.))
    }


def mean_std(values) -> str:
    return f'{np.mean(values):.3f} +- {np.std(values):.3f}'


def main() -> None:
    args = parse_args()
    torch.set_num_threads(args.threads)
    start = time.time()
    records = []
    for seed in args.seeds:
        for model in MODELS:
            tic = time.time()
            runner = Runner.from_cfg(build_cfg(model, seed, args))
            runner.train()
            metrics = runner.test()
            records.append(
                dict(
                    model=model,
                    seed=seed,
                    wga=metrics['group/worst_group_acc'] / 100,
                    aa=metrics['group/average_acc'] / 100,
                    seconds=round(time.time() - tic, 1)))
            print(f"[{model} seed {seed}] worst-group {records[-1]['wga']:.3f}"
                  f" average {records[-1]['aa']:.3f} "
                  f"({records[-1]['seconds']:.0f} s)", flush=True)

    test = runner.test_dataloader.dataset
    groups = np.bincount(
        [test.get_data_info(i)['group_label'] for i in range(len(test))])
    print(f'\nSpuriousShapes cue={args.cue} '
          f"fg_source={test.params['fg_source']} "
          f"img_size={test.params['img_size']} "
          f"patch_size={test.params['patch_size']}, test groups "
          f'{groups.tolist()}, {args.iters} iterations of batch '
          f'{args.batch_size}, seeds {args.seeds}')
    print('| model | worst-group acc | average acc |\n|---|---|---|')
    for model in MODELS:
        rows = [r for r in records if r['model'] == model]
        print(f"| {model} | {mean_std([r['wga'] for r in rows])} | "
              f"{mean_std([r['aa'] for r in rows])} |")
    print(f'Coin-flip worst-group accuracy: {coin_flip_wga(groups):.3f}')
    leaks = leakage(test)
    for rule, leak in leaks.items():
        print(f'Ground-truth token mask ({rule}, test split of seed '
              f"{test.params['seed']}): background share of kept "
              f"pixels {leak['bg_in_kept']:.3f}, foreground dropped "
              f"{leak['fg_dropped']:.3f}, tokens kept "
              f"{leak['kept_tokens']:.3f}")
    print(f'Wall time: {time.time() - start:.0f} s')
    with open(osp.join(args.work_dir, 'results.json'), 'w') as f:
        json.dump(dict(records=records, leakage=leaks), f, indent=2)


if __name__ == '__main__':
    main()
