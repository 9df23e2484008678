# Copyright (c) ifam_mm contributors. All rights reserved.
"""The step runners of tools/demo.py, on stand-in tools (seconds)."""
import json
import os.path as osp
import subprocess
import sys
import textwrap

import pytest
from mmengine.logging import MMLogger

from ifam_mm.demo_runner import (SubprocessRunner, assign_jobs,
                                 stock_command)

REPO_ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))

# A stand-in for tools/train.py --launcher pytorch: creates its process
# group from the environment, as mmengine's launcher does, and records the
# sum of the ranks. Leaves the group like tools/train.py, or (--keep-group)
# behind, like a tool that never destroys it.
FAKE_TRAIN = '''
import json, os, sys
import torch
import torch.distributed as dist
work_dir = sys.argv[sys.argv.index('--work-dir') + 1]
assert sys.argv[-2:] == ['--launcher', 'pytorch'], sys.argv
assert not dist.is_initialized()
dist.init_process_group('gloo')
total = torch.tensor([float(dist.get_rank())])
dist.all_reduce(total)
os.makedirs(work_dir, exist_ok=True)
with open(os.path.join(work_dir, f'rank{dist.get_rank()}.json'), 'w') as f:
    json.dump(dict(total=total.item(), argv=sys.argv[1:]), f)
dist.barrier()
if '--keep-group' not in sys.argv:
    dist.destroy_process_group()
'''
# A stand-in for a single-process tool: records what it sees.
FAKE_TOOL = '''
import json, os, sys
import torch.distributed as dist
with open(sys.argv[1], 'w') as f:
    json.dump(dict(argv=sys.argv[1:], pg=dist.is_initialized(),
                   rank_env=os.environ.get('RANK'),
                   worker=int(os.environ['DEMO_TEST_WORKER'])), f)
'''
DRIVER = '''
import os, sys
sys.path.insert(0, {repo!r})
os.environ['DEMO_TEST_WORKER'] = os.environ['RANK']
from mmengine.logging import MMLogger
from ifam_mm.demo_runner import InProcessRunner
out = {out!r}
runner = InProcessRunner({tools!r}, MMLogger.get_instance(
    'demo_runner_test', log_file=os.path.join(out, 'log.txt')
    if os.environ['RANK'] == '0' else None), procs=2)
for run in ('a', 'b'):
    runner.train('cfg.py', os.path.join(out, run),
                 ['x=1', '--keep-group'] if run == 'a' else ['x=1'])
runner.jobs([[('tool.py', [os.path.join(out, f'job{{i}}-{{j}}.json')])
              for j in range(2)] for i in range(3)], [3.0, 1.0, 1.0])
assert os.environ['RANK'] in ('0', '1')  # restored after the steps
'''


def test_stock_command():
    assert stock_command('train.py', ['c.py', '--work-dir', 'w'], 2,
                         'tools') == [
                             'bash', 'tools/dist_train.sh', 'c.py', '2',
                             '--work-dir', 'w'
                         ]
    assert stock_command('train.py', ['c.py'], 1, 'tools') == [
        sys.executable, 'tools/train.py', 'c.py'
    ]
    assert stock_command('test.py', ['c.py', 'k.pth'], 2, 'tools') == [
        sys.executable, 'tools/test.py', 'c.py', 'k.pth'
    ]


def test_assign_jobs_balances_longest_first():
    # 8 to worker 0, then 2, 1, 1, 1, 1, 1, 1 to worker 1 until it holds 8.
    lanes = assign_jobs([1, 1, 1, 1, 1, 1, 8, 2], 2)
    assert lanes == [[6], [0, 1, 2, 3, 4, 5, 7]]
    lanes = assign_jobs([1, 1, 1, 1, 8, 2], 2)
    assert lanes == [[4], [0, 1, 2, 3, 5]]
    # One worker runs everything, in order; more workers than jobs is fine.
    assert assign_jobs([2, 1, 3], 1) == [[0, 1, 2]]
    assert assign_jobs([1.0], 3) == [[0], [], []]
    with pytest.raises(ValueError, match='workers must be >= 1'):
        assign_jobs([1.0], 0)


def write_tools(tmp_path):
    tools = tmp_path / 'tools'
    tools.mkdir()
    (tools / 'train.py').write_text(FAKE_TRAIN)
    (tools / 'tool.py').write_text(FAKE_TOOL)
    return tools


def test_in_process_runner_in_two_torchrun_workers(tmp_path):
    tools = write_tools(tmp_path)
    out = tmp_path / 'out'
    out.mkdir()
    driver = tmp_path / 'driver.py'
    driver.write_text(
        DRIVER.format(repo=REPO_ROOT, out=str(out), tools=str(tools)))
    result = subprocess.run(
        [sys.executable, '-m', 'torch.distributed.run', '--standalone',
         '--nproc_per_node=2', str(driver)],
        capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, (result.stdout + result.stderr)[-4000:]

    # Each training ran on both workers in a process group of its own,
    # also after a tool that left its group behind.
    for run in ('a', 'b'):
        for rank in (0, 1):
            record = json.loads((out / run / f'rank{rank}.json').read_text())
            assert record['total'] == 1.0
            assert record['argv'][:4] == [
                'cfg.py', '--work-dir', str(out / run), '--cfg-options'
            ]
    # The single-process jobs: the long one on worker 0, the others on
    # worker 1, each step as in `python tools/tool.py` (no torchrun
    # variables, no process group).
    for job, worker in ((0, 0), (1, 1), (2, 1)):
        for step in range(2):
            record = json.loads(
                (out / f'job{job}-{step}.json').read_text())
            assert record == dict(
                argv=[str(out / f'job{job}-{step}.json')], pg=False,
                rank_env=None, worker=worker)
    log = (out / 'log.txt').read_text()
    assert f'Running (in process): bash {tools}/dist_train.sh cfg.py 2 ' \
        f'--work-dir {out}/a --cfg-options x=1' in log
    assert f'Running (in process, worker 1): {sys.executable} ' \
        f'{tools}/tool.py {out}/job2-1.json' in log


def test_subprocess_runner_runs_each_step_in_order(tmp_path):
    tools = write_tools(tmp_path)
    (tools / 'tool.py').write_text(
        'import sys\nopen(sys.argv[1], "a").write(sys.argv[2])\n')
    record = tmp_path / 'steps.txt'
    logger = MMLogger.get_instance(
        'subprocess_runner_test', log_file=str(tmp_path / 'log.txt'))
    runner = SubprocessRunner(str(tools), logger, procs=2)
    runner.jobs([[('tool.py', [str(record), 'a']),
                  ('tool.py', [str(record), 'b'])],
                 [('tool.py', [str(record), 'c'])]], [1.0, 5.0])
    assert record.read_text() == 'abc'
    assert f'Running: {sys.executable} {tools}/tool.py {record} c' in (
        tmp_path / 'log.txt').read_text()
    (tools / 'tool.py').write_text('raise SystemExit(3)\n')
    with pytest.raises(RuntimeError, match='failed with exit code 3'):
        runner.tool('tool.py', [])
