# Copyright (c) ifam_mm contributors. All rights reserved.
"""Compare test-time interventions inside one validation or test run."""
import copy
import numbers
from typing import Dict, Optional, Sequence

import torch
from mmengine.hooks import Hook
from mmengine.runner.amp import autocast

from mmpretrain.registry import HOOKS
from .utils import unwrap


@HOOKS.register_module()
class InterventionHook(Hook):
    """Re-evaluates the val/test split under each named intervention.

    An intervention is a name plus ``model.test_cfg`` settings, e.g.
    ``dict(name='no_part_2', remove_parts=[2])`` or
    ``dict(name='thr99', token_thresholds='thr99.json')``. After every
    val (test) epoch the hook runs the same dataloader and evaluator again
    once per intervention, with the settings applied on top of the model's
    own ``test_cfg`` (restored afterwards, also on error), and reports the
    metrics as ``intervention/<name>/<metric key>``: in the log line and
    vis backends (through the message hub, as ``val/...`` / ``test/...``
    scalars) and in the epoch's ``metrics`` dict, so ``runner.val()`` and
    ``runner.test()`` return them too.

    The re-evaluation calls the model and the evaluator directly, not the
    loop's ``run_iter``, so no hook runs during it: no recursion, no extra
    visualisations, no per-iteration logs.

    ``apply`` names one intervention to apply to the main evaluation itself
    (from ``before_*_epoch`` to ``after_*_epoch``); it then changes the
    plain metric keys (and so ``save_best``), and is not re-run.

    Args:
        interventions (Sequence[dict]): Each a ``name`` (str, no ``/``) and
            at least one ``test_cfg`` key with its value.
        apply (str, optional): Name of the intervention to apply to the main
            evaluation. Defaults to None.
    """

    def __init__(self,
                 interventions: Sequence[dict],
                 apply: Optional[str] = None) -> None:
        self.interventions: Dict[str, dict] = {}
        for intervention in interventions:
            settings = dict(intervention)
            name = settings.pop('name', None)
            if not isinstance(name, str) or not name or '/' in name:
                raise ValueError(
                    'Each intervention needs a name: a non-empty string '
                    f"without '/', e.g. dict(name='no_part_2', "
                    f'remove_parts=[2]); got {intervention!r}.')
            if name in self.interventions:
                raise ValueError(f'Two interventions are named {name!r}; '
                                 'names must be unique.')
            if not settings:
                raise ValueError(
                    f'Intervention {name!r} sets nothing: give it test_cfg '
                    'keys, e.g. remove_parts=[2].')
            self.interventions[name] = settings
        if apply is not None and apply not in self.interventions:
            raise ValueError(
                f'apply={apply!r} names no intervention; the interventions '
                f'are {sorted(self.interventions)}.')
        if not self.interventions:
            raise ValueError('InterventionHook needs at least one '
                             "intervention, e.g. [dict(name='no_part_2', "
                             'remove_parts=[2])].')
        self.apply = apply
        self._saved: Optional[dict] = None

    def before_run(self, runner) -> None:
        # Fail before any training, not at the first validation.
        model = unwrap(runner.model)
        test_cfg = getattr(model, 'test_cfg', None)
        if not isinstance(test_cfg, dict):
            raise TypeError(
                f'InterventionHook sets model.test_cfg, but '
                f'{type(model).__name__} has no test_cfg dict. Use a model '
                'with test-time settings, such as IFAMClassifier.')
        for name, settings in self.interventions.items():
            unknown = sorted(set(settings) - set(test_cfg))
            if unknown:
                raise KeyError(
                    f'Intervention {name!r} sets {unknown}, which '
                    f'{type(model).__name__}.test_cfg does not have; its '
                    f'keys are {sorted(test_cfg)}. Fix the key name.')

    def before_val_epoch(self, runner) -> None:
        self._apply_main(runner)

    def before_test_epoch(self, runner) -> None:
        self._apply_main(runner)

    def after_val_epoch(self, runner, metrics=None) -> None:
        self._compare(runner, 'val', runner.val_loop, metrics)

    def after_test_epoch(self, runner, metrics=None) -> None:
        self._compare(runner, 'test', runner.test_loop, metrics)

    def _apply_main(self, runner) -> None:
        if self.apply is None:
            return
        self._saved = self._set(runner, self.interventions[self.apply])
        runner.logger.info(f'The main evaluation runs under intervention '
                           f'{self.apply!r}: {self.interventions[self.apply]}'
                           '.')

    def _compare(self, runner, mode: str, loop,
                 metrics: Optional[dict]) -> None:
        if self._saved is not None:
            self._restore(runner, self._saved)
            self._saved = None
        for name, settings in self.interventions.items():
            if name == self.apply:
                continue
            saved = self._set(runner, settings)
            try:
                results = self._evaluate(runner, loop, mode)
            finally:
                self._restore(runner, saved)
            runner.logger.info(
                f'Intervention {name!r} {settings}: ' + '  '.join(
                    f'{key}: {value:.4f}' for key, value in results.items()
                    if isinstance(value, numbers.Real)))
            for key, value in results.items():
                key = f'intervention/{name}/{key}'
                if metrics is not None:
                    metrics[key] = value
                if _is_scalar(value):
                    runner.message_hub.update_scalar(f'{mode}/{key}', value)
                else:
                    runner.message_hub.update_info(f'{mode}/{key}', value)

    @staticmethod
    def _set(runner, settings: dict) -> dict:
        """Apply ``settings`` to the model's test_cfg; return the old one."""
        test_cfg = unwrap(runner.model).test_cfg
        saved = copy.deepcopy(test_cfg)
        test_cfg.update(copy.deepcopy(settings))
        return saved

    @staticmethod
    def _restore(runner, saved: dict) -> None:
        # In place: anything holding the dict sees the restored settings.
        test_cfg = unwrap(runner.model).test_cfg
        test_cfg.clear()
        test_cfg.update(saved)

    @staticmethod
    def _evaluate(runner, loop, mode: str) -> dict:
        """The loop's evaluation without its hooks."""
        step = (
            runner.model.val_step if mode == 'val' else runner.model.test_step)
        with torch.no_grad():
            for data_batch in loop.dataloader:
                with autocast(enabled=getattr(loop, 'fp16', False)):
                    outputs = step(data_batch)
                loop.evaluator.process(
                    data_samples=outputs, data_batch=data_batch)
        return loop.evaluator.evaluate(len(loop.dataloader.dataset))


def _is_scalar(value) -> bool:
    """Whether the message hub takes ``value`` as a scalar (as mmengine's
    RuntimeInfoHook decides)."""
    if isinstance(value, torch.Tensor):
        return value.numel() == 1
    return isinstance(value, numbers.Real)
