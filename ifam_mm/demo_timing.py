# Copyright (c) ifam_mm contributors. All rights reserved.
"""Where the time of ``tools/demo.py`` goes: the wall time of each phase,
for its report and ``timings.json`` (docs/demo.md)."""
import contextlib
import time
from typing import Dict, Iterator, List, Optional, Tuple

# What the time not inside a phase was spent on.
UNACCOUNTED = 'imports, worker start, report'


class PhaseClock:
    """Wall time of named phases since the job started.

    A phase may run several times (the training of one model, once per
    seed); :meth:`rows` adds its runs up. Time outside every phase
    (imports, starting the workers, writing the report) is its own row, so
    the rows sum to the total.

    Args:
        started (float, optional): ``time.time()`` when the job started
            (before the workers were launched). Defaults to now.

    Example:
        >>> clock = PhaseClock(started=time.time())
        >>> with clock.phase('training `erm`'):
        ...     pass
        >>> [name for name, runs, seconds in clock.rows()]
        ['training `erm`', 'imports, worker start, report']
    """

    def __init__(self, started: Optional[float] = None) -> None:
        self.started = time.time() if started is None else started
        self.phases: List[Tuple[str, float]] = []

    @contextlib.contextmanager
    def phase(self, name: str) -> Iterator[None]:
        """Time the ``with`` block as one run of phase ``name``."""
        start = time.time()
        try:
            yield
        finally:
            self.phases.append((name, time.time() - start))

    def total(self) -> float:
        """Seconds since the job started."""
        return time.time() - self.started

    def rows(self, total: Optional[float] = None
             ) -> List[Tuple[str, int, float]]:
        """``(phase, runs, seconds)`` in the order phases first ran, then
        the time outside them.

        Args:
            total (float, optional): The job's seconds. Defaults to
                :meth:`total`.
        """
        total = self.total() if total is None else total
        sums: Dict[str, List[float]] = {}
        for name, seconds in self.phases:
            sums.setdefault(name, []).append(seconds)
        rows = [(name, len(runs), sum(runs)) for name, runs in sums.items()]
        rest = total - sum(seconds for _, _, seconds in rows)
        return rows + [(UNACCOUNTED, 1, max(rest, 0.0))]

    def table(self, total: Optional[float] = None) -> str:
        """:meth:`rows` as a Markdown table with each row's share."""
        total = self.total() if total is None else total
        lines = ['| phase | runs | seconds | share |', '|---|---|---|---|']
        for name, runs, seconds in self.rows(total):
            lines.append(f'| {name} | {runs} | {seconds:.0f} | '
                         f'{seconds / total:.0%} |')
        lines.append(f'| total | | {total:.0f} | 100% |')
        return '\n'.join(lines)

    def summary(self, total: Optional[float] = None) -> str:
        """:meth:`rows` as one sentence (the HTML report's)."""
        total = self.total() if total is None else total
        parts = [
            f'{name} {seconds:.0f} s ({seconds / total:.0%})'
            for name, _, seconds in self.rows(total)
        ]
        return (f'Where the {total / 60:.1f} min went: ' + '; '.join(parts) +
                '.')

    def to_dict(self, total: Optional[float] = None) -> dict:
        """Every run of every phase, for ``timings.json``."""
        total = self.total() if total is None else total
        return dict(
            total_seconds=round(total, 1),
            phases=[
                dict(phase=name, seconds=round(seconds, 1))
                for name, seconds in self.phases
            ])
