# Copyright (c) ifam_mm contributors. All rights reserved.
"""Peak memory of a training step, an inference step or a calibration.

On a GPU, torch's allocator statistics give the peak. On a CPU, neither
``tracemalloc`` nor the torch profiler sees every allocation, so the peak is
the process's resident set: Linux resets its high-water mark on request
(``/proc/self/clear_refs``), and the jobs run in a fresh process whose
``malloc`` returns every block of 64 KiB or more to the system when it is
freed (``MALLOC_MMAP_THRESHOLD_``), so one job's freed memory cannot hide
the next job's peak.
"""
import ctypes
import gc
import json
import math
import os
import os.path as osp
import subprocess
import sys
import tempfile
from typing import Callable, Dict, List

import torch
from mmengine.config import Config

from mmpretrain.registry import MODELS
from ifam_mm.utils.config_parsing import prepare_config_parsing
from .benchmark_models import (REPO_ROOT, TOOLS_DIR, Step, build_model,
                               make_batch)

MiB = 2**20
TINY_IFAM_CFG = osp.join(REPO_ROOT, 'configs', '_base_', 'models',
                         'ifam_vit-tiny-p8.py')
CALIBRATION_BATCH = 32
# Run once, unrecorded, before the measured jobs of their kind: the first
# job of a fresh process also pays for lazy imports and one-time buffers.
_MICRO = dict(arch='vit-micro-p8', img_size=32, batch_size=2, amp=False)
WARMUP_JOBS = {
    'train': dict(_MICRO, kind='train', variant='ifam'),
    'infer': dict(_MICRO, kind='infer', variant='ifam@50'),
    'calibrate': dict(kind='calibrate', num_images=CALIBRATION_BATCH),
    'calibrate-exact': dict(
        kind='calibrate-exact', num_images=CALIBRATION_BATCH),
}


class RSSProbe:
    """Resident set size of this process (Linux)."""

    def __init__(self) -> None:
        if not os.access('/proc/self/clear_refs', os.W_OK):
            raise RuntimeError(
                'Peak-memory measurement on the CPU needs Linux (it resets '
                '/proc/self/clear_refs); run with --skip-memory elsewhere.')
        self._libc = ctypes.CDLL(None)

    @staticmethod
    def _status(field: str) -> int:
        with open('/proc/self/status') as f:
            for line in f:
                if line.startswith(field + ':'):
                    return int(line.split()[1]) * 1024
        raise RuntimeError(f'/proc/self/status has no {field}.')

    def current(self) -> int:
        return self._status('VmRSS')

    def reset_peak(self) -> None:
        with open('/proc/self/clear_refs', 'w') as f:
            f.write('5')  # resets VmHWM to the current VmRSS

    def peak(self) -> int:
        return self._status('VmHWM')

    def release(self) -> None:
        gc.collect()
        self._libc.malloc_trim(0)


class CUDAProbe:
    """torch's CUDA allocator statistics."""

    def current(self) -> int:
        torch.cuda.synchronize()
        return torch.cuda.memory_allocated()

    def reset_peak(self) -> None:
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()

    def peak(self) -> int:
        torch.cuda.synchronize()
        return torch.cuda.max_memory_allocated()

    def release(self) -> None:
        gc.collect()
        torch.cuda.empty_cache()


class SyntheticSplit:
    """``num_images`` random images in batches, made as they are read (the
    split itself takes no memory)."""

    def __init__(self, num_images: int, img_size: int) -> None:
        self.num_images = num_images
        self.img_size = img_size

    def __len__(self) -> int:
        return math.ceil(self.num_images / CALIBRATION_BATCH)

    def __iter__(self):
        for start in range(0, self.num_images, CALIBRATION_BATCH):
            size = min(CALIBRATION_BATCH, self.num_images - start)
            yield dict(inputs=torch.rand(size, 3, self.img_size,
                                         self.img_size) * 255)


@torch.no_grad()
def exact_quantiles(model, split: SyntheticSplit, q: float) -> List[float]:
    """The control of the calibration figure: keep every token's distance
    (as the reference does), then take exact quantiles; its memory grows
    with the split, which the measurement must be able to see."""
    model.eval()
    values, parts = [], []
    for batch in split:
        inputs = model.data_preprocessor(batch, False)['inputs']
        distance, assignment = model.token_statistics(inputs)
        values.append(distance.gather(1, assignment[:, None]).flatten())
        parts.append(assignment.flatten())
    values, parts = torch.cat(values), torch.cat(parts)
    return [
        values[parts == k].quantile(q).item()
        for k in range(model.part_head.num_parts) if (parts == k).any()
    ]


def prepare_job(job: Dict, device: str) -> Callable[[], object]:
    """Build what a job needs and return its step.

    A training or inference job runs its step once here, so that the
    optimizer state and one-time buffers count as held memory, not as the
    step's peak.
    """
    kind = job['kind']
    if kind in ('calibrate', 'calibrate-exact'):
        # Imported here: only this job needs the calibration tool's core.
        from ifam_mm.interventions.calibration import \
            calibrate_token_thresholds
        prepare_config_parsing()  # as our tools: ifam_mm::, no pkg_resources
        cfg = Config.fromfile(TINY_IFAM_CFG).model
        model = MODELS.build(cfg).eval()
        split = SyntheticSplit(job['num_images'], cfg.backbone.img_size)
        if kind == 'calibrate-exact':
            return lambda: exact_quantiles(model, split, 0.97)
        return lambda: calibrate_token_thresholds(model, split, [0.97])
    model = build_model(job['variant'], job['arch'], job['img_size'],
                        device)
    step = Step(model, kind, make_batch(job['batch_size'], job['img_size'],
                                        device), device, job['amp'])
    step()
    return step


def measure_memory(job: Dict, probe, device: str = 'cpu') -> Dict:
    """Peak memory of one job.

    Returns:
        dict: ``total_mib``, the peak over the memory held before the model
        was built (weights, optimizer state and the step), and
        ``step_mib``, the peak over the memory held just before the step
        (activations, gradients and temporaries; for a calibration, the
        whole pass).
    """
    probe.release()
    base = probe.current()
    step = prepare_job(job, device)
    probe.release()
    probe.reset_peak()
    before = probe.current()
    step()
    peak = probe.peak()
    del step
    probe.release()
    return dict(
        job, total_mib=(peak - base) / MiB, step_mib=(peak - before) / MiB)


def memory_worker(spec_path: str) -> None:
    """Entry point of the fresh process :func:`measure_in_subprocess`
    starts: runs the jobs of a spec file, writes the results as JSON."""
    with open(spec_path) as f:
        spec = json.load(f)
    import ifam_mm  # noqa: F401  (registers the components)
    torch.set_num_threads(spec['threads'])
    # Every object so far lives to the end: gc.collect() need not walk the
    # imported modules again before each job.
    gc.freeze()
    probe = RSSProbe()
    for kind in dict.fromkeys(job['kind'] for job in spec['jobs']):
        measure_memory(WARMUP_JOBS[kind], probe)
    results = [measure_memory(job, probe) for job in spec['jobs']]
    with open(spec['out'], 'w') as f:
        json.dump(results, f)


def measure_in_subprocess(jobs: List[Dict], threads: int) -> List[Dict]:
    """CPU peak memory of each job, measured in one fresh process."""
    RSSProbe()  # fails here, with its message, where it cannot work
    with tempfile.TemporaryDirectory() as tmp:
        spec = osp.join(tmp, 'spec.json')
        out = osp.join(tmp, 'out.json')
        with open(spec, 'w') as f:
            json.dump(dict(jobs=jobs, threads=threads, out=out), f)
        env = dict(
            os.environ,
            MALLOC_MMAP_THRESHOLD_='65536',
            # The worker imports this module as the tools do; a checkout's
            # root comes first so that it measures the checkout's ifam_mm.
            PYTHONPATH=os.pathsep.join(
                [REPO_ROOT, TOOLS_DIR,
                 os.environ.get('PYTHONPATH', '')]))
        code = ('import sys; from analysis_tools.benchmark_memory import '
                'memory_worker; memory_worker(sys.argv[1])')
        result = subprocess.run([sys.executable, '-c', code, spec],
                                env=env,
                                capture_output=True,
                                text=True)
        if result.returncode:
            raise RuntimeError('The memory-measuring process failed:\n' +
                               result.stderr[-3000:])
        with open(out) as f:
            return json.load(f)
