# Copyright (c) ifam_mm contributors. All rights reserved.
from contextlib import contextmanager

import torch
import torch.nn as nn
from mmengine.optim import OptimWrapper

from mmpretrain.registry import OPTIM_WRAPPERS


@OPTIM_WRAPPERS.register_module()
class CPUAutocastOptimWrapper(OptimWrapper):
    """Optimizer wrapper that runs the forward pass under CPU bf16 autocast.

    mmengine's ``AmpOptimWrapper`` asserts that a CUDA (or NPU/MLU/MUSA)
    device is present, so ``tools/train.py --amp`` cannot run on a CPU-only
    machine. This wrapper gives the CPU equivalent: the forward pass (and
    therefore the loss) runs inside ``torch.autocast('cpu',
    dtype=torch.bfloat16)``. bfloat16 keeps float32's exponent range, so
    gradients do not underflow and no loss scaling (``GradScaler``) is
    needed; parameters, gradients and optimizer states stay in float32.
    ``tools/train.py --amp`` picks this wrapper when CUDA is unavailable.

    Note:
        Only CPU operations are autocast; a model on a GPU would silently
        train in float32, so use ``AmpOptimWrapper`` there.

    Args:
        **kwargs: Keyword arguments passed to
            :class:`mmengine.optim.OptimWrapper` (``optimizer``,
            ``accumulative_counts``, ``clip_grad``).

    Examples:
        >>> optim_wrapper = dict(
        ...     type='CPUAutocastOptimWrapper',
        ...     optimizer=dict(type='AdamW', lr=1e-3))
    """

    @contextmanager
    def optim_context(self, model: nn.Module):
        """Gradient-accumulation context of the parent, plus bf16 autocast.

        Args:
            model (nn.Module): The training model.
        """
        with super().optim_context(model), torch.autocast(
                device_type='cpu', dtype=torch.bfloat16):
            yield
