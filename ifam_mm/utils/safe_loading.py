# Copyright (c) ifam_mm contributors. All rights reserved.
"""Weights-only loading of mmengine runner checkpoints, scoped to a block.

torch>=2.6 loads with ``weights_only=True``, and mmengine's loader does not
say otherwise (open-mmlab/mmengine#1655). A runner checkpoint holds a few
non-tensor objects (the message hub's ``HistoryBuffer``, numpy arrays and
scalars), so it is refused. Instead of switching safe loading off, the block
below allow-lists exactly those objects, and only while it runs.
"""
import contextlib
from typing import Iterator

import numpy as np
import torch
from mmengine.logging import HistoryBuffer


def runner_checkpoint_globals() -> list:
    """Non-tensor globals found in checkpoints written by mmengine's Runner.

    Returns:
        list: Objects to allow-list for ``torch.load(weights_only=True)``.
    """
    try:  # numpy>=2
        from numpy._core.multiarray import _reconstruct, scalar
    except ImportError:  # numpy<2
        from numpy.core.multiarray import _reconstruct, scalar
    numeric_dtypes = [
        type(np.dtype(name)) for name in ('bool', 'int8', 'int16', 'int32',
                                          'int64', 'uint8', 'uint16',
                                          'uint32', 'uint64', 'float16',
                                          'float32', 'float64')
    ]
    # ``getattr`` appears because HistoryBuffer pickles its statistic methods
    # by name; the weights-only unpickler still refuses to *call* anything
    # that is not itself allow-listed.
    return [
        HistoryBuffer, np.ndarray, np.dtype, _reconstruct, scalar, getattr
    ] + numeric_dtypes


@contextlib.contextmanager
def runner_checkpoint_loading() -> Iterator[None]:
    """Allow-list the globals of mmengine runner checkpoints inside a block.

    Safe loading stays on: a pickle that calls anything else (``os.system``)
    is still refused. Outside the block, torch's allow-list is untouched.

    Examples:
        >>> from ifam_mm.utils import runner_checkpoint_loading
        >>> with runner_checkpoint_loading():  # doctest: +SKIP
        ...     runner.test()
    """
    with torch.serialization.safe_globals(runner_checkpoint_globals()):
        yield
