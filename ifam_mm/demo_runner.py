# Copyright (c) ifam_mm contributors. All rights reserved.
"""How ``tools/demo.py`` runs its steps (docs/demo.md, "How the job runs").

Every step of the demo is a stock tool and its command line. Two runners
execute them:

* :class:`SubprocessRunner` (``--stock-tools``): one process per step, as a
  user would type it (``tools/dist_train.sh CONFIG 2``, ``python
  tools/test.py ...``).
* :class:`InProcessRunner` (default): the steps run inside the workers of one
  ``torchrun`` launch, each through ``runpy`` with its command line, so the
  code path is the stock tool's, but torch, mmengine and mmpretrain are
  imported once per worker instead of once per step. A training runs on
  every worker with ``--launcher pytorch``; single-process steps that do not
  depend on each other are shared between the workers (one per core).

Both log the stock command of every step.
"""
import contextlib
import os
import os.path as osp
import runpy
import socket
import subprocess
import sys
import time
from datetime import timedelta
from typing import Dict, List, Sequence, Tuple

from mmengine.logging import MMLogger, print_log

# A single-process step: (script under tools/, its arguments).
ToolCall = Tuple[str, List[str]]
# Set by torchrun in its workers: a stock tool run as `python tools/X.py`
# sees none of them, a distributed one sees them all.
TORCHRUN_ENV = ('RANK', 'LOCAL_RANK', 'WORLD_SIZE', 'LOCAL_WORLD_SIZE',
                'GROUP_RANK', 'GROUP_WORLD_SIZE', 'ROLE_RANK',
                'ROLE_WORLD_SIZE', 'ROLE_NAME', 'MASTER_ADDR', 'MASTER_PORT',
                'TORCHELASTIC_USE_AGENT_STORE')
# Waits for the other workers: as long as a step may take.
STORE_TIMEOUT = timedelta(hours=2)


def stock_command(script: str, args: Sequence[str], procs: int = 1,
                  tools_dir: str = 'tools') -> List[str]:
    """The command a user types for one step.

    ``train.py`` with ``procs > 1`` becomes ``bash tools/dist_train.sh
    CONFIG PROCS ...``; everything else ``python tools/SCRIPT ...``.
    """
    if script == 'train.py' and procs > 1:
        return ['bash', osp.join(tools_dir, 'dist_train.sh'), args[0],
                str(procs)] + list(args[1:])
    return [sys.executable, osp.join(tools_dir, script)] + list(args)


def assign_jobs(weights: Sequence[float], workers: int) -> List[List[int]]:
    """Share independent jobs between workers, longest first.

    Each job goes to the least loaded worker (ties: the lowest rank), so
    every worker computes the same plan without talking to the others.

    Args:
        weights (Sequence[float]): Expected cost of each job.
        workers (int): Number of workers.

    Returns:
        list[list[int]]: For each worker, the indices of its jobs, in the
        order given.
    """
    if workers < 1:
        raise ValueError(f'workers must be >= 1, got {workers}.')
    loads = [0.0] * workers
    lanes = [[] for _ in range(workers)]
    for index in sorted(range(len(weights)), key=lambda i: -weights[i]):
        worker = loads.index(min(loads))
        lanes[worker].append(index)
        loads[worker] += weights[index]
    return [sorted(lane) for lane in lanes]


class StepRunner:
    """Runs the demo's steps; see the module docstring.

    Args:
        tools_dir (str): The ``tools/`` folder of the checkout.
        logger (MMLogger): Where the commands are logged.
        procs (int): Processes per training.
    """

    rank = 0
    world_size = 1

    def __init__(self, tools_dir: str, logger: MMLogger, procs: int) -> None:
        self.tools_dir = tools_dir
        self.logger = logger
        self.procs = procs

    @property
    def is_main(self) -> bool:
        """Whether this process writes the results (rank 0)."""
        return self.rank == 0

    def log(self, message: str) -> None:
        print_log(message, logger=self.logger)

    def command(self, script: str, args: Sequence[str]) -> str:
        procs = self.procs if script == 'train.py' else 1
        return ' '.join(
            stock_command(script, args, procs, self.tools_dir))

    def train(self, config: str, work_dir: str, options: list) -> float:
        """Train ``config`` on ``procs`` processes; returns the seconds."""
        raise NotImplementedError

    def jobs(self, jobs: Sequence[Sequence[ToolCall]],
             weights: Sequence[float]) -> None:
        """Run independent jobs, each a list of single-process steps run in
        order; all have finished when this returns."""
        raise NotImplementedError

    def tool(self, script: str, args: List[str]) -> None:
        """One single-process step."""
        self.jobs([[(script, args)]], [1.0])


class SubprocessRunner(StepRunner):
    """One process per step, the commands of the stock tools."""

    def __init__(self, tools_dir: str, logger: MMLogger, procs: int) -> None:
        super().__init__(tools_dir, logger, procs)
        self.port = 29500 + os.getpid() % 1000

    def _run(self, cmd: List[str]) -> float:
        self.log('Running: ' + ' '.join(cmd))
        start = time.perf_counter()
        env = dict(os.environ, PORT=str(self.port))
        result = subprocess.run(cmd, env=env, cwd=osp.dirname(self.tools_dir))
        if result.returncode != 0:
            raise RuntimeError(f'{cmd[1]} failed with exit code '
                               f'{result.returncode}; see its log above.')
        return time.perf_counter() - start

    def train(self, config: str, work_dir: str, options: list) -> float:
        args = [config, '--work-dir', work_dir, '--cfg-options'] + options
        return self._run(
            stock_command('train.py', args, self.procs, self.tools_dir))

    def jobs(self, jobs, weights) -> None:
        for job in jobs:
            for script, args in job:
                self._run(stock_command(script, args, 1, self.tools_dir))


class InProcessRunner(StepRunner):
    """The steps inside this process, one of ``WORLD_SIZE`` torchrun
    workers (or alone, without torchrun, for ``procs == 1``).

    A stock tool owns its process group: ``tools/train.py --launcher
    pytorch`` creates it and leaves it. A group cannot be created twice
    over the same store (keys of the last one are still there), so each
    distributed step gets a fresh rendezvous port, published through
    torchrun's own store, and its tool creates its group there as in a
    fresh worker. Single-process steps see the environment of a plain
    ``python tools/X.py`` (no torchrun variables, no process group).
    """

    def __init__(self, tools_dir: str, logger: MMLogger, procs: int) -> None:
        super().__init__(tools_dir, logger, procs)
        self.rank = int(os.environ.get('RANK', 0))
        self.world_size = int(os.environ.get('WORLD_SIZE', 1))
        if self.world_size not in (1, procs):
            raise RuntimeError(
                f'The demo runs in {self.world_size} workers but trains '
                f'with --procs {procs}; launch it as `python tools/demo.py`.')
        self._store = None
        self._syncs = 0
        self._last_start = None
        if self.world_size > 1:
            from torch.distributed import PrefixStore, TCPStore

            # torchrun's agent hosts this store for its workers.
            self._store = PrefixStore(
                'ifam_mm_demo',
                TCPStore(
                    os.environ['MASTER_ADDR'],
                    int(os.environ['MASTER_PORT']),
                    is_master=False,
                    timeout=STORE_TIMEOUT))

    def _sync(self, payload: str = '') -> str:
        """Wait for every worker; returns rank 0's ``payload``."""
        if self._store is None:
            return payload
        self._syncs += 1
        key = f'sync{self._syncs}'
        if self.rank == 0:
            self._store.set(f'{key}/payload', payload)
        self._store.set(f'{key}/{self.rank}', 'done')
        self._store.wait([f'{key}/{r}' for r in range(self.world_size)])
        return self._store.get(f'{key}/payload').decode()

    def _run_tool(self, script: str, args: Sequence[str]) -> float:
        # A Runner is named after its config and the second it starts;
        # two in one process with the same name would share a logger and
        # a visualizer (mmengine's instances are global).
        while self._last_start == int(time.time()):
            time.sleep(0.05)
        self._last_start = int(time.time())
        path = osp.join(self.tools_dir, script)
        argv = sys.argv
        sys.argv = [path] + list(args)
        start = time.perf_counter()
        try:
            runpy.run_path(path, run_name='__main__')
        except SystemExit as exit_:
            if exit_.code not in (None, 0):
                raise RuntimeError(f'{script} exited with {exit_.code}; see '
                                   'its log above.') from exit_
        finally:
            sys.argv = argv
        return time.perf_counter() - start

    def train(self, config: str, work_dir: str, options: list) -> float:
        args = [config, '--work-dir', work_dir, '--cfg-options'] + options
        if self.is_main:
            self.log('Running (in process): ' +
                     self.command('train.py', args))
        if self.world_size == 1:
            with _environment(remove=TORCHRUN_ENV):
                return self._run_tool('train.py', args)
        port = self._sync(str(_free_port()) if self.is_main else '')
        with _environment(
                set=dict(MASTER_PORT=port),
                remove=('TORCHELASTIC_USE_AGENT_STORE', )):
            seconds = self._run_tool(
                'train.py', args + ['--launcher', 'pytorch'])
        self._sync()
        _leave_process_group()
        return seconds

    def jobs(self, jobs, weights) -> None:
        lanes = assign_jobs(weights, self.world_size)
        if self.is_main:
            for worker, lane in enumerate(lanes):
                for index in lane:
                    for script, args in jobs[index]:
                        self.log(f'Running (in process, worker {worker}): ' +
                                 self.command(script, args))
        with _environment(remove=TORCHRUN_ENV):
            for index in lanes[self.rank]:
                for script, args in jobs[index]:
                    self._run_tool(script, args)
        self._sync()


def _free_port() -> int:
    # The tool's TCPStore listens on every interface.
    with socket.socket() as sock:
        sock.bind(('', 0))
        return sock.getsockname()[1]


def _leave_process_group() -> None:
    """Destroy a group a tool left behind, so the next starts clean."""
    import torch.distributed as dist
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


@contextlib.contextmanager
def _environment(set: Dict[str, str] = None, remove: Sequence[str] = ()):
    """``os.environ`` with changes, restored afterwards (tools may also
    change it: tools/train.py sets LOCAL_RANK)."""
    saved = dict(os.environ)
    for key in remove:
        os.environ.pop(key, None)
    os.environ.update(set or {})
    try:
        yield
    finally:
        os.environ.clear()
        os.environ.update(saved)
