# Copyright (c) ifam_mm contributors. All rights reserved.
"""Cost of iFAM against a plain ViT, as ratios measured in the same run.

Prints a markdown table and the JSON of every figure:

- training step of ``IFAMClassifier`` (the paper's setting: stage 1
  frozen, as its random weights mask, and with 25 / 50 / 100 % of the
  tokens kept; stage 1 trainable, informative) / one plain ViT of the same
  architecture (same batch, AdamW, forward + backward + step);
- inference of ``IFAMClassifier`` with 25 / 50 / 100 % of the tokens kept,
  and with a light selector (stage 1 of half the width) / one dense ViT of
  the predictor's architecture;
- peak memory of those steps, and of threshold calibration as the split
  grows;
- on a GPU, images per second at the paper's settings (ViT-B/14 with
  registers at 518 and 224 px), against the paper's RTX 3090 figures.

Weights are random (no download). See docs/benchmarks.md::

    python tools/benchmark.py [--quick] [--device cuda [--compile]]
        [--arch vit-small-p16] [--img-size 224] [--batch-size 8]
        [--json FILE]
"""
import argparse
import datetime
import json
import os
import os.path as osp
import platform
import sys
import time

import ifam_mm  # noqa: F401  (registers the plugin's modules)
import timm
import torch

from ifam_mm.utils.benchmark_models import ARCHS
from ifam_mm.utils.benchmarking import (CALIBRATION_SPLITS, PAPER_IMG_PER_S,
                                        PAPER_SPEEDUP_TARGET, TARGETS,
                                        run_benchmark)

# Defaults per device; --quick keeps a 2-core CPU run under 3 minutes.
PRESETS = dict(
    cpu=dict(
        arch='vit-small-p16',
        img_size=224,
        batch_size=8,
        train_rounds=5,
        infer_rounds=7,
        warmup=1,
        amp=False),
    cpu_quick=dict(
        arch='vit-tiny-p16',
        img_size=160,
        batch_size=8,
        train_rounds=3,
        infer_rounds=5,
        warmup=1,
        amp=False),
    cuda=dict(
        arch='vit-base-p14',
        img_size=518,
        batch_size=16,
        train_rounds=10,
        infer_rounds=20,
        warmup=3,
        amp=True),
    cuda_quick=dict(
        arch='vit-base-p14',
        img_size=224,
        batch_size=16,
        train_rounds=5,
        infer_rounds=10,
        warmup=2,
        amp=True),
)


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--device', choices=('cpu', 'cuda'), default='cpu')
    parser.add_argument(
        '--quick', action='store_true', help='smaller model, fewer rounds')
    parser.add_argument(
        '--arch',
        choices=sorted(ARCHS),
        help='predictor ViT (default: vit-small-p16 on a CPU, vit-tiny-p16 '
        'with --quick; vit-base-p14, the paper\'s, on a GPU)')
    parser.add_argument('--img-size', type=int)
    parser.add_argument('--batch-size', type=int)
    parser.add_argument('--train-rounds', type=int)
    parser.add_argument('--infer-rounds', type=int)
    parser.add_argument(
        '--warmup', type=int, help='untimed rounds before the timed ones')
    parser.add_argument(
        '--threads',
        type=int,
        default=1,
        help='torch CPU threads (default 1: on a shared CPU, spinning '
        'OpenMP threads slow every step down several times)')
    parser.add_argument(
        '--amp',
        action=argparse.BooleanOptionalAction,
        help='autocast, bf16 (fp16 on GPUs without bf16); default: on a '
        'GPU only')
    parser.add_argument(
        '--compile', action='store_true', help='torch.compile the steps')
    parser.add_argument(
        '--skip-memory', action='store_true', help='no peak-memory figures')
    parser.add_argument(
        '--calibration-splits',
        type=int,
        nargs='+',
        default=list(CALIBRATION_SPLITS),
        help='split sizes (images) of the calibration-memory figure')
    parser.add_argument(
        '--throughput-sizes',
        type=int,
        nargs='*',
        default=[518, 224],
        help='GPU only: image sizes of the img/s table (none: skip it)')
    parser.add_argument(
        '--throughput-batches', type=int, nargs='+', default=[16, 64])
    parser.add_argument('--json', metavar='FILE', help='also write the JSON')
    args = parser.parse_args(argv)
    if args.device == 'cuda' and not torch.cuda.is_available():
        parser.error('--device cuda: no CUDA device is visible '
                     '(torch.cuda.is_available() is False). Run on a machine '
                     'with a GPU, or use --device cpu.')
    preset = PRESETS[args.device + ('_quick' if args.quick else '')]
    for key, value in preset.items():
        if getattr(args, key) is None:
            setattr(args, key, value)
    return args


def machine(args: argparse.Namespace) -> dict:
    cpu = platform.processor()
    if osp.exists('/proc/cpuinfo'):
        with open('/proc/cpuinfo') as f:
            names = [ln.split(':', 1)[1].strip() for ln in f
                     if ln.startswith('model name')]
        cpu = names[0] if names else cpu
    info = dict(
        date=datetime.date.today().isoformat(),
        cpu=cpu,
        cores=os.cpu_count(),
        usable_cores=len(os.sched_getaffinity(0)),
        threads=args.threads,
        load_average=os.getloadavg(),
        torch=torch.__version__,
        timm=timm.__version__)
    if args.device == 'cuda':
        info['gpu'] = torch.cuda.get_device_name()
    return info


def fmt(value, unit='×') -> str:
    return '–' if value is None else f'{value:.2f}{unit}'


def verdict(key: str, value) -> str:
    if key not in TARGETS or value is None:
        return ''
    return 'met' if value <= TARGETS[key] else '**missed**'


def markdown(results: dict) -> str:
    s, m = results['settings'], results['machine']
    lines = [
        f"### {s['device']}, {s['arch']} at {s['img_size']} px, batch "
        f"{s['batch_size']}, {'AMP' if s['amp'] else 'fp32'}"
        f"{', compiled' if s['compile'] else ''}", '',
        f"{m['gpu'] + ', ' if 'gpu' in m else ''}{m['cpu']} "
        f"({m['usable_cores']} cores, torch threads: {m['threads']}); "
        f"torch {m['torch']}; {m['date']}; load average "
        f"{m['load_average'][0]:.1f} at the start, "
        f"{m['load_average_end'][0]:.1f} at the end; "
        f"{m['seconds']:.0f} s.", '',
        '| figure (ratio of medians of paired rounds) | measured | target '
        '| |', '|---|---|---|---|'
    ]
    rows = [
        ('train_step_ratio', 'training step, iFAM (stage 1 frozen) / ViT',
         None),
        ('train_step_ratio_25',
         'training step, iFAM (stage 1 frozen) at 25 % kept / ViT', None),
        ('train_step_ratio_50',
         'training step, iFAM (stage 1 frozen) at 50 % kept / ViT', ''),
        ('train_step_ratio_100',
         'training step, iFAM (stage 1 frozen) at 100 % kept / ViT', None),
        ('train_step_ratio_stage1_trainable',
         'training step, iFAM (stage 1 trainable) / ViT', 'informative'),
        ('train_step_ratio_stage1_frozen_all',
         'training step, iFAM (stage 1 and its tokens frozen) / ViT',
         'informative'),
        ('infer_ratio_25', 'inference, iFAM at 25 % kept / dense ViT',
         None),
        ('infer_ratio_50', 'inference, iFAM at 50 % kept / dense ViT', ''),
        ('infer_ratio_100', 'inference, iFAM at 100 % kept / dense ViT', ''),
        ('infer_ratio_light_25', 'inference, light selector at 25 % kept '
         '/ dense ViT', None),
        ('infer_ratio_light_50', 'inference, light selector at 50 % kept',
         ''),
        ('infer_ratio_light_100', 'inference, light selector at 100 % kept',
         ''),
        ('calibration_memory_ratio', 'calibration peak memory, largest / '
         'smallest split (flat)', None),
        ('calibration_exact_memory_ratio', 'the same, keeping every token '
         '(control)', 'grows'),
    ]
    for key, label, target in rows:
        if key in results:
            if target is None:
                target = f'≤ {TARGETS[key]:.2f}×'
            lines.append(f'| {label} | {fmt(results[key])} | {target} | '
                         f'{verdict(key, results[key])} |')
    lines += ['', '| step | median ms | peak over the step (MiB) | '
              'peak incl. weights and optimizer (MiB) |', '|---|---|---|---|']
    memory = {(r['kind'], r['variant']): r
              for r in results.get('memory', {}).get('steps', [])}
    for kind in ('train', 'infer'):
        for variant, ms in results[kind]['ms'].items():
            peak = memory.get((kind, variant), {})
            lines.append(f'| {kind} {variant} | {ms:.1f} | '
                         f"{fmt(peak.get('step_mib'), '')} | "
                         f"{fmt(peak.get('total_mib'), '')} |")
    c = results['checks']
    lines += [
        '', f"Checks: an iFAM training step runs stage 1 "
        f"{c['stage1_forwards_per_train_step']} times (image and "
        'equivariance transform) and stage 2 '
        f"{c['stage2_forwards_per_train_step']} time; the attention masks "
        f"are {', '.join(str(list(x)) for x in c['attn_mask_shapes'])} ("
        f"{'a T x T mask was built!' if c['tt_mask'] else '[B, 1, 1, T] keys'}"
        '); attention calls without a mask (every image pruned to the same '
        'count) in inference: ' + ', '.join(
            f'{v} {n}' for v, n in c['unmasked_infer_attention'].items()) +
        '; kept fractions read back from `pred_token_mask`: ' +
        ', '.join(f'{v} {f:.3f}' for v, f in c['kept_fraction'].items()) +
        '; in training (the `kept_fraction` log): ' + ', '.join(
            f'{v} {f:.3f}'
            for v, f in results['train']['kept_fraction'].items()) + '.'
    ]
    memory = results.get('memory', {})
    for key, label in (('calibration', 'streaming estimator'),
                       ('calibration_exact', 'every token kept (control)')):
        if memory.get(key):
            lines += [
                '', f'Calibration, {label} (tiny iFAM, CPU): peak MiB over '
                'the loaded model: ' + ', '.join(
                    f"{r['num_images']} images {r['step_mib']:.1f}"
                    for r in memory[key]) + '.'
            ]
    lines += throughput_table(results.get('throughput', []))
    return '\n'.join(lines)


def throughput_table(rows) -> list:
    if not rows:
        return []
    lines = [
        '', '| mode | model | px | batch | img/s | paper (RTX 3090) | ×paper '
        f'(target ≥ {PAPER_SPEEDUP_TARGET:g}×) |', '|---|---|---|---|---|---|'
        '---|'
    ]
    for r in rows:
        paper = PAPER_IMG_PER_S.get(r['img_size'])
        compare = r['mode'] == 'infer' and r['model'].startswith('ifam')
        speedup = (r['img_per_s'] / paper
                   if compare and paper and r['img_per_s'] else None)
        lines.append(
            f"| {r['mode']} | {r['model']} | {r['img_size']} | "
            f"{r['batch_size']} | {fmt(r['img_per_s'], '')} "
            f"{r.get('note', '')}| {paper if compare else ''} | "
            f"{fmt(speedup)} |")
    return lines


def main(argv=None) -> dict:
    args = parse_args(argv)
    torch.set_num_threads(args.threads)
    if args.device == 'cuda':
        torch.set_float32_matmul_precision('high')
    settings = dict(
        device=args.device,
        arch=args.arch,
        img_size=args.img_size,
        batch_size=args.batch_size,
        amp=args.amp,
        compile=args.compile,
        train_rounds=args.train_rounds,
        infer_rounds=args.infer_rounds,
        warmup=args.warmup,
        command=' '.join(['python', 'tools/benchmark.py'] +
                         (sys.argv[1:] if argv is None else list(argv))))
    info = machine(args)
    start = time.perf_counter()
    throughput = None
    if args.device == 'cuda' and args.throughput_sizes:
        throughput = dict(
            arch='vit-base-p14',
            sizes=args.throughput_sizes,
            batches=args.throughput_batches)
    results = run_benchmark(
        args.arch,
        args.img_size,
        args.batch_size,
        device=args.device,
        amp=args.amp,
        compile=args.compile,
        train_rounds=args.train_rounds,
        infer_rounds=args.infer_rounds,
        warmup=args.warmup,
        threads=args.threads,
        memory=not args.skip_memory,
        calibration_splits=args.calibration_splits,
        throughput=throughput)
    info['load_average_end'] = os.getloadavg()
    info['seconds'] = time.perf_counter() - start
    results = dict(machine=info, settings=settings, **results)
    print(markdown(results))
    text = json.dumps(results, indent=2)
    print(text)
    if args.json:
        with open(args.json, 'w') as f:
            f.write(text + '\n')
    if results['checks']['tt_mask']:
        sys.exit('A T x T attention mask was built (see "checks"); iFAM '
                 'must mask keys with a broadcast [B, 1, 1, T] mask.')
    return results


if __name__ == '__main__':
    main()
