# Copyright (c) ifam_mm contributors. All rights reserved.
"""Leave-one-out part removal and the greedy choice of parts to remove.

The paper says selecting harmful parts on a validation split "can be
automated"; the reference only prints numbers (docs/method.md "Test-time
interventions", "Where the reference code differs").
"""
from typing import Callable, Dict, List, Optional, Sequence, Tuple

Metrics = Dict[str, float]
Removal = Tuple[int, ...]


class RemovalEvaluator:
    """Evaluates part removals once each (memoised by the removed set).

    Args:
        evaluate (Callable): ``remove_parts (list) -> metrics (dict)``.
        num_parts (int): Foreground parts K.
        fixed (Sequence[int]): Parts removed in every evaluation (and never
            candidates). Defaults to ().
    """

    def __init__(self,
                 evaluate: Callable[[List[int]], Metrics],
                 num_parts: int,
                 fixed: Sequence[int] = ()) -> None:
        self.evaluate = evaluate
        self.num_parts = num_parts
        self.fixed = tuple(sorted(set(fixed)))
        self.results: Dict[Removal, Metrics] = {}

    def __call__(self, parts: Sequence[int]) -> Metrics:
        """Metrics with ``parts`` (and the fixed ones) removed."""
        key = tuple(sorted(set(self.fixed) | set(parts)))
        if key not in self.results:
            self.results[key] = {
                name: float(value)
                for name, value in self.evaluate(list(key)).items()
            }
        return self.results[key]

    def candidates(self, chosen: Sequence[int]) -> List[int]:
        return [
            part for part in range(self.num_parts)
            if part not in self.fixed and part not in chosen
        ]

    def leave_one_out(self) -> List[Tuple[Removal, Metrics]]:
        """Nothing more removed, then each other part in turn."""
        return [((), self(()))] + [((part, ), self((part, )))
                                   for part in self.candidates(())]

    def greedy_selection(self, metric: str) -> Tuple[List[int], List[Dict]]:
        """Remove, one at a time, the part whose removal most raises
        ``metric`` over the current set; stop when none raises it (ties go
        to the lower index). At least one part always stays.

        Returns:
            tuple[list, list]: All parts to remove (the fixed ones too), and
            one record per accepted step (``remove_parts``, ``metric``).
        """
        chosen: List[int] = []
        best = self(chosen)[metric]
        steps = []
        while len(self.candidates(chosen)) > 1:
            scores = {
                part: self(chosen + [part])[metric]
                for part in self.candidates(chosen)
            }
            part = max(scores, key=lambda p: (scores[p], -p))
            if scores[part] <= best:
                break
            chosen = sorted(chosen + [part])
            best = scores[part]
            steps.append(
                dict(remove_parts=sorted(self.fixed + tuple(chosen)),
                     metric=best))
        return sorted(self.fixed + tuple(chosen)), steps


def check_metric_keys(metrics: Metrics, keys: Sequence[str],
                      split: str) -> None:
    """Raise unless the evaluator produced every key of ``keys``."""
    missing = [key for key in keys if key not in metrics]
    if missing:
        raise KeyError(f'The {split} evaluator gives no {missing}; it gives '
                       f'{sorted(metrics)}. Pick others with --metric / '
                       '--average-metric.')


def _name(parts: Removal) -> str:
    return 'none' if not parts else ', '.join(map(str, parts))


def format_table(rows: Sequence[Tuple[Removal, Metrics]], metric: str,
                 average: str) -> str:
    """A markdown table: removed parts, ``average``, ``metric`` and the
    change of ``metric`` over removing nothing."""
    base = rows[0][1][metric]
    lines = [
        f'| removed part | {average} | {metric} | change |',
        '|---|---|---|---|',
    ]
    for parts, metrics in rows:
        lines.append(f'| {_name(parts)} | {metrics[average]:.2f} | '
                     f'{metrics[metric]:.2f} | '
                     f'{metrics[metric] - base:+.2f} |')
    return '\n'.join(lines)


def save_bar_chart(rows: Sequence[Tuple[Removal, Metrics]], metric: str,
                   average: str, path: str) -> None:
    """Bars of both metrics per removed part; dashed lines: no removal."""
    import matplotlib
    matplotlib.use('Agg')  # files only, no display needed
    import matplotlib.pyplot as plt

    names = [_name(parts) for parts, _ in rows[1:]]
    positions = range(len(names))
    fig, ax = plt.subplots(figsize=(max(4, 0.6 * len(names) + 2), 3.5))
    for offset, key, color in ((-0.2, average, 'tab:blue'),
                               (0.2, metric, 'tab:orange')):
        ax.bar([p + offset for p in positions],
               [metrics[key] for _, metrics in rows[1:]],
               width=0.4,
               color=color,
               label=key)
        ax.axhline(rows[0][1][key], color=color, linestyle='--')
    ax.set_xticks(list(positions), names)
    ax.set_xlabel('removed part (dashed: none removed)')
    ax.legend(fontsize='small')
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def intervention_snippet(config: str, remove_parts: Sequence[int],
                         token_thresholds: Optional[str],
                         token_threshold_mode: str, comment: str) -> str:
    """A config file: ``config`` with the chosen intervention.

    Test with it directly (``tools/test.py intervention.py CKPT``), or copy
    the options of its header comment to another command.
    """
    test_cfg = dict(remove_parts=list(remove_parts))
    if token_thresholds:
        test_cfg.update(
            token_thresholds=token_thresholds,
            token_threshold_mode=token_threshold_mode)
    options = ' '.join(f'model.test_cfg.{key}={value!r}'.replace(' ', '')
                       for key, value in test_cfg.items())
    body = ',\n'.join(f'        {key}={value!r}'
                      for key, value in test_cfg.items())
    header = ''.join(f'# {line}\n' for line in comment.splitlines())
    return (f'{header}# As command-line options: --cfg-options {options}\n'
            f'_base_ = [{config!r}]\n'
            f'model = dict(\n    test_cfg=dict(\n{body}))\n')
