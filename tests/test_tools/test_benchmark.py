# Copyright (c) ifam_mm contributors. All rights reserved.
"""tools/benchmark.py on a micro model: the figures exist and make sense.

Not a timed test: the performance targets live in the benchmark's output
(docs/benchmarks.md), not here.
"""
import importlib.util
import json
import math
import os.path as osp

import pytest
import torch

from ifam_mm.utils import benchmarking
from ifam_mm.utils.benchmarking import benchmark_throughput, run_benchmark

REPO_ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
RATIO_KEYS = ('train_step_ratio', 'train_step_ratio_25',
              'train_step_ratio_50', 'train_step_ratio_100', 'infer_ratio_25',
              'infer_ratio_50', 'infer_ratio_100', 'infer_ratio_light_25')
MICRO = ['--arch', 'vit-micro-p8', '--img-size', '32', '--batch-size', '2']


def is_ratio(value):
    return isinstance(value, float) and math.isfinite(value) and value > 0


def test_core_measures_every_ratio_on_the_real_paths():
    torch.set_num_threads(1)
    results = run_benchmark(
        'vit-micro-p8',
        32,
        2,
        train_rounds=1,
        infer_rounds=1,
        warmup=0,
        memory=False)
    for key in RATIO_KEYS + ('train_step_ratio_stage1_trainable',
                             'train_step_ratio_stage1_frozen_all'):
        assert is_ratio(results[key]), (key, results[key])
    checks = results['checks']
    # Stage 1 sees the image and its equivariance transform, stage 2 once.
    assert checks['stage1_forwards_per_train_step'] == 2
    assert checks['stage2_forwards_per_train_step'] == 1
    # Key masks broadcast over queries, never T x T; the forced fractions
    # keep one count per image, so inference prunes to it and needs no
    # mask at all (2 blocks x 1 stage-2 forward).
    assert not checks['tt_mask']
    assert all(s[1:3] == [1, 1] or s[1:3] == (1, 1)
               for s in checks['attn_mask_shapes'])
    stage1_blocks = 2  # stage 1 always runs unmasked
    assert checks['unmasked_infer_attention'] == {
        v: stage1_blocks + 2 for v in checks['kept_fraction']}
    # The crafted stage-1 output keeps exactly the asked fraction, as
    # stage 2 saw it (pred_token_mask), in training too (its log).
    for variant, fraction in checks['kept_fraction'].items():
        assert fraction == int(variant.split('@')[1]) / 100, variant
    assert results['train']['kept_fraction'] == {
        'ifam@25': 0.25, 'ifam@50': 0.5, 'ifam@100': 1.0}
    assert set(results['infer']['ms']) == {
        'plain', 'ifam@25', 'ifam@50', 'ifam@100', 'light@25', 'light@50',
        'light@100'
    }


def test_throughput_rows_and_out_of_memory(monkeypatch):
    torch.set_num_threads(1)
    rows = benchmark_throughput(
        'vit-micro-p8', [32], [2], device='cpu', amp=False, rounds=1,
        warmup=0)
    assert [(r['mode'], r['model']) for r in rows] == [
        ('infer', 'plain'), ('infer', 'ifam@25'), ('infer', 'ifam@50'),
        ('infer', 'ifam@100'), ('train', 'plain'), ('train', 'ifam')
    ]
    assert all(r['img_per_s'] > 0 for r in rows)

    def out_of_memory(*args):
        raise torch.cuda.OutOfMemoryError('CUDA out of memory.')

    # A paper setting too large for the GPU is a row, not a crash.
    monkeypatch.setattr(benchmarking, 'benchmark_training', out_of_memory)
    rows = benchmark_throughput(
        'vit-micro-p8', [32], [2], device='cpu', amp=False, rounds=1,
        warmup=0)
    train = [r for r in rows if r['mode'] == 'train']
    assert [r['img_per_s'] for r in train] == [None, None]
    assert {r['note'] for r in train} == {'out of memory'}


def test_tool_prints_and_writes_the_ratios(tmp_path, run_tool):
    out = tmp_path / 'bench.json'
    text = run_tool('benchmark.py', MICRO + [
        '--train-rounds', '1', '--infer-rounds', '1', '--warmup', '0',
        '--calibration-splits', '32', '96', '--json',
        str(out)
    ], tmp_path)
    assert '| training step, iFAM (stage 1 frozen) / ViT |' in text
    results = json.loads(out.read_text())
    for key in RATIO_KEYS + ('calibration_memory_ratio', ):
        assert is_ratio(results[key]), (key, results[key])
    assert results['settings']['arch'] == 'vit-micro-p8'
    assert results['machine']['threads'] == 1
    peaks = {(r['kind'], r['variant']): r['step_mib']
             for r in results['memory']['steps']}
    # Backward keeps the activations of three ViT passes alive, inference
    # of one: a measurement that cannot tell them apart is broken.
    assert peaks['train', 'ifam'] > peaks['train', 'plain'] > peaks[
        'infer', 'plain'] > 0
    assert [c['num_images'] for c in results['memory']['calibration']
            ] == [32, 96]


def load_tool():
    spec = importlib.util.spec_from_file_location(
        'benchmark_tool', osp.join(REPO_ROOT, 'tools', 'benchmark.py'))
    tool = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tool)
    return tool


@pytest.mark.skipif(
    torch.cuda.is_available(), reason='checks the no-GPU message')
def test_cuda_without_a_gpu_is_a_clear_error(capsys):
    with pytest.raises(SystemExit) as exit_info:
        load_tool().parse_args(['--device', 'cuda'])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert '--device cuda: no CUDA device is visible' in err
    assert 'use --device cpu' in err
