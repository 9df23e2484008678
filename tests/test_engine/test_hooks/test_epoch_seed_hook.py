# Copyright (c) ifam_mm contributors. All rights reserved.
"""EpochSeedHook: an epoch's random numbers depend on (seed, epoch) only."""
import random
from types import SimpleNamespace
from unittest import mock

import numpy as np
import torch
from mmengine.runner import EpochBasedTrainLoop

from ifam_mm.engine.hooks import EpochSeedHook


def draws():
    return (random.random(), float(np.random.rand()), float(torch.rand(1)))


def draws_of_epoch(seed, epoch, consumed):
    """The draws after ``consumed`` unrelated draws and the hook."""
    for _ in range(consumed):
        draws()
    EpochSeedHook().before_train_epoch(SimpleNamespace(seed=seed, epoch=epoch))
    return draws()


def test_draws_depend_on_seed_and_epoch_only():
    # What ran before (earlier epochs, validation, a resume) is irrelevant.
    assert draws_of_epoch(0, 3, consumed=0) == draws_of_epoch(0, 3, 17)
    assert draws_of_epoch(0, 3, 0) != draws_of_epoch(0, 4, 0)
    assert draws_of_epoch(0, 3, 0) != draws_of_epoch(1, 3, 0)


def runner_at(epoch, iteration, iters_per_epoch=3):
    loop = object.__new__(EpochBasedTrainLoop)  # only its type matters
    loop.dataloader = range(iters_per_epoch)
    return SimpleNamespace(
        epoch=epoch, iter=iteration, train_loop=loop, logger=mock.Mock())


def test_warns_when_resuming_inside_an_epoch():
    runner = runner_at(epoch=1, iteration=4)
    EpochSeedHook().before_train(runner)
    message = runner.logger.warning.call_args[0][0]
    assert '1 iteration(s) into epoch 2' in message
    assert 'trained twice' in message


def test_silent_at_an_epoch_boundary():
    runner = runner_at(epoch=1, iteration=3)
    EpochSeedHook().before_train(runner)
    runner.logger.warning.assert_not_called()
