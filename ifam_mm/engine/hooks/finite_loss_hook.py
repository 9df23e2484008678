# Copyright (c) ifam_mm contributors. All rights reserved.
"""Stop training at the first NaN or infinite loss term or gradient norm."""
import math
from typing import Optional

import torch
from mmengine.hooks import Hook
from mmengine.optim import AmpOptimWrapper

from mmpretrain.registry import HOOKS

SHOWN_IMAGES = 3


@HOOKS.register_module()
class FiniteLossHook(Hook):
    """Raise ``FloatingPointError`` naming the loss term that is NaN or
    infinite (or the gradient norm, when the losses were finite).

    mmengine trains on through NaN losses: the weights turn NaN, and every
    later checkpoint is saved from them. This hook checks every logged term
    of each training step and, when ``clip_grad`` is set, the gradient norm.
    It runs right after the step, before the EMA, logger and checkpoint
    hooks (priority ``HIGH``), so the step that went wrong is never saved:
    the checkpoints on disk all predate it. Under ``AmpOptimWrapper`` the
    gradient norm is not checked: fp16 loss scaling overflows on purpose
    and skips those steps itself.

    Examples:
        >>> # In configs/_base_/default_runtime.py, which our configs inherit:
        >>> default_hooks = dict(finite_loss=dict(type='FiniteLossHook'))
    """

    priority = 'HIGH'

    def after_train_iter(self,
                         runner,
                         batch_idx: int,
                         data_batch: Optional[dict] = None,
                         outputs: Optional[dict] = None) -> None:
        """Check the step's logged losses and gradient norm."""
        values = {
            name: float(value.detach() if torch.is_tensor(value) else value)
            for name, value in (outputs or {}).items()
        }
        bad = {
            name: value
            for name, value in values.items() if not math.isfinite(value)
        }
        if len(bad) > 1:
            bad.pop('loss', None)  # the sum; name the terms
        if not bad:
            bad = self._bad_grad_norm(runner)
        if not bad:
            return
        terms = ', '.join(f'{name} is {value}' for name, value in bad.items())
        last = runner.message_hub.get_info('last_ckpt')
        saved = (f'the last checkpoint, {last}, predates it'
                 if last else 'no checkpoint was saved yet')
        raise FloatingPointError(
            f'Training stopped at iteration {runner.iter + 1} (epoch '
            f'{runner.epoch + 1}): {terms}{_images(data_batch)}. This step '
            f'is not saved: {saved}. Lower the learning rate or check the '
            "batch's images (with --amp, try without), then resume with "
            'tools/train.py CONFIG --resume.')

    def _bad_grad_norm(self, runner) -> dict:
        scalars = runner.message_hub.log_scalars
        if ('train/grad_norm' not in scalars
                or isinstance(runner.optim_wrapper, AmpOptimWrapper)):
            return {}
        norm = scalars['train/grad_norm'].current()
        return {} if math.isfinite(norm) else {'the gradient norm': norm}


def _images(data_batch: Optional[dict]) -> str:
    """``' in a batch with 'a.png', ...'``, from the samples' img_path."""
    samples = (data_batch or {}).get('data_samples') or []
    paths = [s.img_path for s in samples if 'img_path' in s]
    if not paths:
        return ''
    more = f' ({len(paths)} images)' if len(paths) > SHOWN_IMAGES else ''
    return (' in a batch with ' + ', '.join(map(repr, paths[:SHOWN_IMAGES]))
            + more)
