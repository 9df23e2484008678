# Copyright (c) ifam_mm contributors. All rights reserved.
"""tools/benchmarks/gpu_benchmark.py: the CPU dry run of the GPU script."""
import json
import os.path as osp



def test_cpu_dry_run_writes_every_figure(tmp_path, run_tool):
    out = tmp_path / 'gpu.json'
    run_tool(
        osp.join('benchmarks', 'gpu_benchmark.py'),
        ['--device', 'cpu', '--iters', '3', '--out', str(out)], tmp_path)
    results = json.loads(out.read_text())
    rows = {(r['mode'], r['model']): r for r in results['throughput']}
    assert set(rows) == {('infer', 'plain'), ('infer', 'ifam@25'),
                         ('infer', 'ifam@50'), ('infer', 'ifam@100'),
                         ('train', 'plain'), ('train', 'ifam')}
    assert all(r['img_per_s'] > 0 for r in rows.values())
    run = results['training_run']
    # The CUB K = 8 config through the Runner, 3 iterations of 2 images.
    assert run['config'].endswith('ifam-k8_vit-base-p14-reg4_dinov2-pre_'
                                  '8xb16-coslr-90e_cub-518px.py')
    assert run['iterations'] == 3 and run['batch_size'] == 2
    assert run['img_per_s'] > 0 and run['amp'] == 'bfloat16'
