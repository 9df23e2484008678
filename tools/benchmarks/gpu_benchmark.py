# Copyright (c) ifam_mm contributors. All rights reserved.
"""iFAM's GPU figures in one run (under 8 minutes on one GPU), as JSON.

1. Images per second at the paper's settings (ViT-B/14 with registers at
   518 and 224 px, batch 16, AMP): inference of a dense ViT and of iFAM
   with 25 / 50 / 100 % of the tokens kept, and training steps (dense ViT,
   iFAM), with the paper's RTX 3090 figures beside them.
2. A short real-size training run: the K = 8 CUB config
   (``configs/ifam/ifam-k8_..._cub-518px.py``) through mmengine's Runner on
   a generated CUB_200_2011 tree at 518 px, random weights, AMP (bf16, fp16
   where bf16 is missing), batch 16: training img/s (median iteration,
   data loading included, and without it) and peak GPU memory.

``--device cpu`` is a dry run of the same code on tiny sizes (seconds),
which the tests run. See docs/benchmarks.md::

    python tools/benchmarks/gpu_benchmark.py [--device cpu] [--iters 12]
        [--out work_dirs/gpu_benchmark.json]
"""
import argparse
import json
import os
import os.path as osp
import statistics
import sys
import tempfile
import time

REPO_ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
# The benchmark helpers live in tools/analysis_tools/ (they read the
# configs beside tools/); this script sits one folder below.
sys.path.insert(0, osp.join(REPO_ROOT, 'tools'))

import ifam_mm  # noqa: E402,F401  (registers the plugin's modules)
import timm  # noqa: E402
import torch  # noqa: E402
from mmengine.config import Config  # noqa: E402
from mmengine.runner import Runner  # noqa: E402

from ifam_mm.testing import make_cub_tree  # noqa: E402
from ifam_mm.utils.config_parsing import prepare_config_parsing  # noqa: E402
from analysis_tools.benchmark_models import ARCHS, amp_dtype  # noqa: E402
from analysis_tools.benchmarking import (PAPER_IMG_PER_S,  # noqa: E402
                                         PAPER_SPEEDUP_TARGET,
                                         benchmark_throughput)

CUB_CONFIG = osp.join(
    REPO_ROOT, 'configs', 'ifam',
    'ifam-k8_vit-base-p14-reg4_dinov2-pre_8xb16-coslr-90e_cub-518px.py')
# The real sizes on a GPU; tiny ones for the CPU dry run.
SETTINGS = dict(
    cuda=dict(
        arch='vit-base-p14', sizes=[518, 224], batch=16, rounds=10,
        warmup=3, train_size=518),
    cpu=dict(
        arch='vit-micro-p8', sizes=[32], batch=2, rounds=1, warmup=0,
        train_size=32))


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument(
        '--device', choices=('cuda', 'cpu'), default='cuda',
        help='cpu: a dry run on tiny sizes')
    parser.add_argument(
        '--iters', type=int, default=12,
        help='iterations of the training run (the first 2 are not timed)')
    parser.add_argument(
        '--out', default=osp.join('work_dirs', 'gpu_benchmark.json'),
        help='JSON file of the figures')
    args = parser.parse_args(argv)
    if args.device == 'cuda' and not torch.cuda.is_available():
        parser.error('--device cuda: no CUDA device is visible. Run on a '
                     'machine with a GPU, or --device cpu for a dry run.')
    if args.iters < 3:
        parser.error(f'--iters must be >= 3 (2 untimed), got {args.iters}.')
    return args


def shrink(cfg: Config, arch: str, img_size: int) -> None:
    """Both ViTs to ``arch`` and every pipeline size to ``img_size`` (the
    dry run; on a GPU the config's own ViT-B/14 at 518 px stays)."""
    vit = dict(ARCHS[arch], img_size=img_size)
    cfg.model.backbone.update(vit)
    cfg.model.stage2_backbone.update(vit)
    cfg.model.part_head.in_channels = vit['embed_dim']
    cfg.model.head.in_channels = vit['embed_dim']
    for step in cfg.train_dataloader.dataset.pipeline:
        if step['type'] == 'ResizeEdge':
            step['scale'] = img_size
        elif 'crop_size' in step:
            step['crop_size'] = img_size


def training_cfg(device: str, data_root: str, work_dir: str, iters: int,
                 setting: dict) -> Config:
    prepare_config_parsing()  # as our tools: ifam_mm::, no pkg_resources
    cfg = Config.fromfile(CUB_CONFIG)
    if setting['arch'] != 'vit-base-p14':
        shrink(cfg, setting['arch'], setting['train_size'])
    cfg.model.backbone.pretrained = None  # random weights, no download
    cfg.model.stage2_backbone.pretrained = None
    cfg.work_dir = work_dir
    cfg.train_dataloader.batch_size = setting['batch']
    cfg.train_dataloader.num_workers = min(8, os.cpu_count() or 1)
    cfg.train_dataloader.dataset.data_root = data_root
    cfg.train_dataloader.dataset.val_fraction = 0.0
    cfg.train_cfg = dict(by_epoch=True, max_epochs=1)
    cfg.param_scheduler = []
    cfg.val_dataloader = cfg.val_cfg = cfg.val_evaluator = None
    cfg.test_dataloader = cfg.test_cfg = cfg.test_evaluator = None
    cfg.default_hooks.checkpoint = None
    cfg.default_hooks.logger.interval = 1
    # AMP as tools/train.py --amp sets it.
    if device == 'cuda':
        cfg.optim_wrapper.type = 'AmpOptimWrapper'
        cfg.optim_wrapper.dtype = str(amp_dtype(device)).split('.')[-1]
        cfg.optim_wrapper.loss_scale = 'dynamic'
    else:
        cfg.optim_wrapper.type = 'CPUAutocastOptimWrapper'
    cfg.auto_scale_lr = None
    return cfg


def training_run(device: str, iters: int, setting: dict) -> dict:
    """Train the CUB config for ``iters`` iterations; img/s and memory."""
    batch = setting['batch']
    with tempfile.TemporaryDirectory() as tmp:
        # iters x batch official training images: one epoch, iters steps.
        root = make_cub_tree(
            osp.join(tmp, 'CUB_200_2011'),
            num_classes=iters,
            num_per_class=batch,
            img_size=max(64, setting['train_size'] + 82),
            seed=0)
        cfg = training_cfg(device, root, osp.join(tmp, 'work'), iters,
                           setting)
        runner = Runner.from_cfg(cfg)
        if device == 'cuda':
            torch.cuda.reset_peak_memory_stats()
        start = time.perf_counter()
        runner.train()
        seconds = time.perf_counter() - start
        hub = runner.message_hub
        times = list(hub.get_scalar('train/time').data[0])[2:]
        data_times = list(hub.get_scalar('train/data_time').data[0])[2:]
    step = statistics.median(times)
    compute = statistics.median(t - d for t, d in zip(times, data_times))
    return dict(
        config=osp.relpath(CUB_CONFIG, REPO_ROOT),
        img_size=setting['train_size'],
        batch_size=batch,
        iterations=len(times) + 2,
        amp=str(amp_dtype(device)).split('.')[-1],
        img_per_s=batch / step,
        img_per_s_without_data_loading=batch / compute,
        median_data_time_s=statistics.median(data_times),
        peak_memory_mib=(torch.cuda.max_memory_allocated() / 2**20
                         if device == 'cuda' else None),
        seconds=seconds)


def main(argv=None) -> dict:
    args = parse_args(argv)
    setting = SETTINGS[args.device]
    torch.set_num_threads(1 if args.device == 'cpu' else
                          torch.get_num_threads())
    if args.device == 'cuda':
        torch.set_float32_matmul_precision('high')
    start = time.perf_counter()
    results = dict(
        machine=dict(
            device=(torch.cuda.get_device_name()
                    if args.device == 'cuda' else 'cpu (dry run)'),
            torch=torch.__version__,
            timm=timm.__version__),
        paper_rtx3090_img_per_s=PAPER_IMG_PER_S,
        speedup_target=PAPER_SPEEDUP_TARGET)
    rows = benchmark_throughput(
        setting['arch'], setting['sizes'], [setting['batch']],
        device=args.device, amp=True, rounds=setting['rounds'],
        warmup=setting['warmup'])
    for row in rows:
        paper = PAPER_IMG_PER_S.get(row['img_size'])
        if (row['mode'] == 'infer' and row['model'] != 'plain' and paper
                and row['img_per_s']):
            row['x_paper'] = row['img_per_s'] / paper
    results['throughput'] = rows
    results['training_run'] = training_run(args.device, args.iters, setting)
    results['seconds'] = time.perf_counter() - start
    text = json.dumps(results, indent=2)
    print(text)
    os.makedirs(osp.dirname(osp.abspath(args.out)), exist_ok=True)
    with open(args.out, 'w') as f:
        f.write(text + '\n')
    return results


if __name__ == '__main__':
    main()
