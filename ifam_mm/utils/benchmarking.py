# Copyright (c) ifam_mm contributors. All rights reserved.
"""The core of ``tools/benchmark.py``: every figure is a ratio of two
timings taken in the same run.

Steps of the compared models alternate within each round (in reversed
order every other round), and a ratio is the median over rounds of the
paired ratio, so load from other processes that drifts over the run hits
both sides alike.
"""
import gc
import statistics
import time
from typing import Callable, Dict, List, Optional, Sequence

import torch

from .benchmark_memory import CUDAProbe, measure_in_subprocess, measure_memory
from .benchmark_models import (Step, build_model, compile_blocks, make_batch,
                               trace_step)

KEPT_PERCENTS = (25, 50, 100)
TRAIN_VARIANTS = ('plain', 'ifam', 'ifam-trainable', 'ifam-frozen-all') + tuple(
    f'ifam@{p}' for p in KEPT_PERCENTS)
INFER_VARIANTS = ('plain', ) + tuple(
    f'{name}@{p}' for name in ('ifam', 'light') for p in KEPT_PERCENTS)
CALIBRATION_SPLITS = (200, 800, 3200)
# The targets (docs/benchmarks.md); True = "at most".
TARGETS = dict(
    train_step_ratio=2.0,
    train_step_ratio_25=1.8,
    train_step_ratio_100=2.3,
    infer_ratio_25=1.30,
    infer_ratio_light_25=0.8,
    calibration_memory_ratio=1.10)
# Paper App. B (RTX 3090, no optimisations), img/s of iFAM inference.
PAPER_IMG_PER_S = {518: 43.0, 224: 151.0}
PAPER_SPEEDUP_TARGET = 3.0


def _sync(device: str) -> None:
    if device == 'cuda':
        torch.cuda.synchronize()


def time_interleaved(steps: Dict[str, Callable[[], object]], rounds: int,
                     warmup: int, device: str) -> Dict[str, List[float]]:
    """Seconds per call of each step, alternating the steps in each round.

    Args:
        steps (dict): ``name -> step``.
        rounds (int): Timed rounds (each calls every step once).
        warmup (int): Untimed rounds before them.
        device (str): ``'cuda'`` synchronises around each call.
    """
    names = list(steps)
    for _ in range(warmup):
        for name in names:
            steps[name]()
    times = {name: [] for name in names}
    for index in range(rounds):
        for name in (names if index % 2 == 0 else names[::-1]):
            _sync(device)
            start = time.perf_counter()
            steps[name]()
            _sync(device)
            times[name].append(time.perf_counter() - start)
    return times


def paired_ratio(times: Dict[str, List[float]], name: str,
                 reference: str) -> float:
    """Median over rounds of ``time[name] / time[reference]``."""
    return statistics.median(
        a / b for a, b in zip(times[name], times[reference]))


def _median_ms(times: Dict[str, List[float]]) -> Dict[str, float]:
    return {name: 1000 * statistics.median(t) for name, t in times.items()}


def benchmark_training(arch: str,
                       img_size: int,
                       batch_size: int,
                       device: str = 'cpu',
                       amp: bool = False,
                       compile: bool = False,
                       rounds: int = 5,
                       warmup: int = 1,
                       variants: Sequence[str] = TRAIN_VARIANTS) -> Dict:
    """Training steps of iFAM and of one plain ViT of the same
    architecture, same batch, same optimizer.

    Returns:
        dict: ``ms`` (median per step), ``train_step_ratio`` (the paper's
        setting: stage 1 frozen but its tokens),
        ``train_step_ratio_stage1_trainable`` (stage 1 trained as a whole),
        ``train_step_ratio_stage1_frozen_all`` (its tokens frozen too),
        ``train_step_ratio_P`` (the paper's setting with P % of the tokens
        kept), ``trace``: one iFAM step's backbone forwards and
        attention-mask shapes, and ``kept_fraction``: per ``ifam@P``, the
        fraction stage 2 saw in training (the ``kept_fraction`` loss log).
    """
    data = make_batch(batch_size, img_size, device)
    steps, result = {}, {}
    for variant in variants:
        model = build_model(variant, arch, img_size, device)
        steps[variant] = Step(model, 'train', data, device, amp)
        if variant == 'ifam':
            trace = trace_step(model, steps['ifam'])
            trace['loss_keys'] = sorted(trace.pop('result'))
            result['trace'] = trace
        elif '@' in variant:
            trace = trace_step(model, steps[variant])
            result.setdefault('kept_fraction', {})[variant] = float(
                trace['result']['kept_fraction'])
        if compile:
            compile_blocks(model)
    times = time_interleaved(steps, rounds, warmup, device)
    result['ms'] = _median_ms(times)
    if 'ifam' in times:
        result['train_step_ratio'] = paired_ratio(times, 'ifam', 'plain')
    for variant, key in (('ifam-trainable', 'stage1_trainable'),
                         ('ifam-frozen-all', 'stage1_frozen_all'),
                         *((f'ifam@{p}', str(p)) for p in KEPT_PERCENTS)):
        if variant in times:
            result[f'train_step_ratio_{key}'] = paired_ratio(
                times, variant, 'plain')
    return result


def benchmark_inference(arch: str,
                        img_size: int,
                        batch_size: int,
                        device: str = 'cpu',
                        amp: bool = False,
                        compile: bool = False,
                        rounds: int = 7,
                        warmup: int = 1,
                        variants: Sequence[str] = INFER_VARIANTS) -> Dict:
    """Inference of iFAM with P % of the tokens kept (``ifam@P``; light
    selector: ``light@P``) against one dense ViT of the predictor's
    architecture (``plain``).

    Returns:
        dict: ``ms`` (median per batch), ``infer_ratio_P`` and
        ``infer_ratio_light_P`` per variant, and ``trace`` per iFAM
        variant: backbone forwards, attention-mask shapes and the kept
        fraction read back from the predictions (``pred_token_mask``).
    """
    data = make_batch(batch_size, img_size, device)
    steps, traces = {}, {}
    for variant in variants:
        model = build_model(variant, arch, img_size, device)
        steps[variant] = Step(model, 'infer', data, device, amp)
        if variant != 'plain':
            trace = trace_step(model, steps[variant])
            masks = torch.stack(
                [s.pred_token_mask for s in trace.pop('result')])
            trace['kept_fraction'] = masks.float().mean().item()
            traces[variant] = trace
        if compile:
            compile_blocks(model)
    times = time_interleaved(steps, rounds, warmup, device)
    result = dict(ms=_median_ms(times), trace=traces)
    for variant in variants:
        if variant != 'plain':
            name, _, percent = variant.partition('@')
            key = 'infer_ratio_' + ('light_' if name == 'light' else '')
            result[key + percent] = paired_ratio(times, variant, 'plain')
    return result


def benchmark_memory(arch: str,
                     img_size: int,
                     batch_size: int,
                     device: str = 'cpu',
                     amp: bool = False,
                     threads: int = 1,
                     calibration_splits: Sequence[int] = CALIBRATION_SPLITS
                     ) -> Dict:
    """Peak memory of both training steps, of inference (dense, and iFAM at
    25 / 100 % kept and with the light selector at 25 %), and of threshold
    calibration (a tiny iFAM; always on the CPU) as the split grows, with
    its control: keeping every token's distance (``calibration_exact``)."""
    setting = dict(
        arch=arch, img_size=img_size, batch_size=batch_size, amp=amp)
    jobs = [
        dict(setting, kind=kind, variant=variant)
        for kind, variant in (('train', 'plain'), ('train', 'ifam'),
                              ('infer', 'plain'), ('infer', 'ifam@25'),
                              ('infer', 'ifam@100'), ('infer', 'light@25'))
    ]
    calibration = [
        dict(kind=kind, num_images=n)
        for kind in ('calibrate', 'calibrate-exact')
        for n in calibration_splits
    ]
    if device == 'cuda':
        probe = CUDAProbe()
        results = [measure_memory(job, probe, device) for job in jobs]
        results += measure_in_subprocess(calibration, threads)
    else:
        results = measure_in_subprocess(jobs + calibration, threads)
    summary = dict(
        steps=[r for r in results if r['kind'] in ('train', 'infer')])
    for kind, key in (('calibrate', 'calibration'),
                      ('calibrate-exact', 'calibration_exact')):
        splits = [r for r in results if r['kind'] == kind]
        summary[key] = splits
        if len(splits) > 1:
            summary[key + '_memory_ratio'] = (
                splits[-1]['step_mib'] / max(splits[0]['step_mib'], 1e-9))
    return summary


def benchmark_throughput(arch: str,
                         sizes: Sequence[int],
                         batches: Sequence[int],
                         device: str = 'cuda',
                         amp: bool = True,
                         compile: bool = False,
                         rounds: int = 10,
                         warmup: int = 2) -> List[Dict]:
    """Images per second at each (size, batch): inference (dense, iFAM at
    25 / 50 / 100 % kept) and training steps (plain, iFAM); a setting that
    runs out of GPU memory is recorded as such."""
    rows = []
    infer = ('plain', ) + tuple(f'ifam@{p}' for p in KEPT_PERCENTS)
    for img_size in sizes:
        for batch in batches:
            for mode, variants, bench in (('infer', infer,
                                           benchmark_inference),
                                          ('train', ('plain', 'ifam'),
                                           benchmark_training)):
                row = dict(mode=mode, img_size=img_size, batch_size=batch)
                try:
                    ms = bench(arch, img_size, batch, device, amp, compile,
                               rounds, warmup, variants)['ms']
                except torch.cuda.OutOfMemoryError:
                    rows += [dict(row, model=v, img_per_s=None,
                                  note='out of memory') for v in variants]
                else:
                    rows += [dict(row, model=v, img_per_s=1000 * batch /
                                  ms[v]) for v in variants]
                gc.collect()
                if device == 'cuda':
                    torch.cuda.empty_cache()
    return rows


def checks(train_trace: Dict, infer_traces: Dict) -> Dict:
    """What the traces show: stage-1 / stage-2 forwards per training step,
    every attention-mask shape (and whether one was T x T), and the kept
    fraction of each inference variant."""
    shapes = {
        tuple(shape)
        for trace in [train_trace, *infer_traces.values()]
        for shape in trace['attn_mask_shapes']
    }
    forwards = train_trace['forwards']
    return dict(
        stage1_forwards_per_train_step=forwards.get('backbone', 0),
        stage2_forwards_per_train_step=forwards.get('stage2_backbone', 0),
        attn_mask_shapes=sorted(shapes),
        tt_mask=any(shape[-2] > 1 for shape in shapes),
        # Pruned to one count per image: no mask, SDPA may use flash.
        unmasked_infer_attention={
            variant: trace['forwards'].get('attention_without_mask', 0)
            for variant, trace in infer_traces.items()
        },
        kept_fraction={
            variant: trace['kept_fraction']
            for variant, trace in infer_traces.items()
        })


def run_benchmark(arch: str,
                  img_size: int,
                  batch_size: int,
                  device: str = 'cpu',
                  amp: bool = False,
                  compile: bool = False,
                  train_rounds: int = 5,
                  infer_rounds: int = 7,
                  warmup: int = 1,
                  threads: int = 1,
                  memory: bool = True,
                  calibration_splits: Sequence[int] = CALIBRATION_SPLITS,
                  throughput: Optional[Dict] = None) -> Dict:
    """Every figure of ``tools/benchmark.py``.

    Args:
        throughput (dict, optional): ``arch``, ``sizes`` and ``batches`` of
            the img/s table (the paper's settings on a GPU); None skips it.

    Returns:
        dict: The ratios at the top level (``train_step_ratio``,
        ``infer_ratio_25`` / ``_50`` / ``_100``, ``infer_ratio_light_25``
        ...), ``checks`` (:func:`checks`), and ``train``, ``infer``,
        ``memory`` and ``throughput`` details.
    """
    results = dict(targets=TARGETS)
    train = benchmark_training(arch, img_size, batch_size, device, amp,
                               compile, train_rounds, warmup)
    infer = benchmark_inference(arch, img_size, batch_size, device, amp,
                                compile, infer_rounds, warmup)
    for part in (train, infer):
        results.update((k, v) for k, v in part.items()
                       if k.startswith(('train_step_ratio', 'infer_ratio_')))
    results['train'] = dict(
        ms=train['ms'],
        trace=train['trace'],
        kept_fraction=train.get('kept_fraction', {}))
    results['infer'] = dict(ms=infer['ms'], trace=infer['trace'])
    results['checks'] = checks(train['trace'], infer['trace'])
    if memory:
        results['memory'] = benchmark_memory(arch, img_size, batch_size,
                                             device, amp, threads,
                                             calibration_splits)
        results.update((k, v) for k, v in results['memory'].items()
                       if k.endswith('_memory_ratio'))
    if throughput:
        results['throughput'] = benchmark_throughput(
            device=device, amp=amp, compile=compile, **throughput)
    return results
