# Copyright (c) ifam_mm contributors. All rights reserved.
"""Runner helpers shared by the hooks."""
from mmengine.model import is_model_wrapper
from mmengine.runner import BaseLoop, EpochBasedTrainLoop


def unwrap(model):
    """The model inside a DDP (or other) wrapper."""
    return model.module if is_model_wrapper(model) else model


def training_step(runner) -> int:
    """The epoch (epoch-based training) or iteration; 0 outside training."""
    # runner.epoch would build the train loop of a val/test-only run from
    # its config (mmengine's LoggerHook avoids it the same way).
    loop = runner._train_loop
    if not isinstance(loop, BaseLoop):
        return 0
    if isinstance(loop, EpochBasedTrainLoop):
        return runner.epoch
    return runner.iter
