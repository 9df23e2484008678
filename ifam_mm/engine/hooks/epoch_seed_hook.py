# Copyright (c) ifam_mm contributors. All rights reserved.
"""Re-seed every random generator at the start of each training epoch."""
import random

import numpy as np
import torch
from mmengine.hooks import Hook
from mmengine.runner import EpochBasedTrainLoop

from mmpretrain.registry import HOOKS


def epoch_seed(seed: int, epoch: int) -> int:
    """A well-mixed 32-bit seed for ``epoch`` of a run seeded ``seed``."""
    return int(np.random.SeedSequence([seed, epoch]).generate_state(1)[0])


@HOOKS.register_module()
class EpochSeedHook(Hook):
    """Make resumed training draw the same random numbers as an
    uninterrupted run.

    mmengine checkpoints hold the model, optimizer, schedulers, EMA weights
    and message hub, but not the random generators: a run resumed after
    epoch ``e`` would draw other Gumbel noise, dropout and augmentations
    than the run that was not interrupted. Rather than storing generator
    states (per rank, gathered to the saving rank, and disturbed by
    validation between the save and the next epoch), this hook seeds
    Python's ``random``, NumPy and torch (all devices) from ``(runner.seed,
    epoch)`` before each training epoch, so the random stream of an epoch
    depends only on what a checkpoint already stores. ``runner.seed``
    includes the rank with ``randomness.diff_rank_seed=True``.

    Exact for epoch checkpoints with ``EpochBasedTrainLoop`` and data
    loaders whose workers are not persistent (their generators live in
    other processes); see docs/reliability.md.
    """

    priority = 'VERY_HIGH'  # before any other hook of the epoch draws

    def before_train(self, runner) -> None:
        """Warn when resuming inside an epoch: the epoch restarts."""
        loop = runner.train_loop
        if not isinstance(loop, EpochBasedTrainLoop):
            return
        done = runner.iter - runner.epoch * len(loop.dataloader)
        if done > 0:
            runner.logger.warning(
                f'Resumed from a checkpoint {done} iteration(s) into '
                f'epoch {runner.epoch + 1}: mmengine\'s '
                'EpochBasedTrainLoop restarts that epoch from its first '
                'batch, so those batches are trained twice. Save '
                'checkpoints by epoch for an exact resume.')

    def before_train_epoch(self, runner) -> None:
        """Seed every generator from ``(runner.seed, runner.epoch)``."""
        seed = epoch_seed(runner.seed, runner.epoch)
        random.seed(seed)
        np.random.seed(seed)
        torch.manual_seed(seed)  # CPU and every accelerator
