# Copyright (c) ifam_mm contributors. All rights reserved.
"""Fail early, and say how to fix it, when no mmcv is installed.

mmcv is deliberately not a requirement of ifam_mm: a full mmcv (compiled
ops, as mmdet or mmseg need) must not be replaced by mmcv-lite, which owns
the same ``mmcv`` import name. Without either, mmpretrain's own import
fails with a bare "No module named 'mmcv'".
"""

MMCV_MISSING = (
    'ifam_mm needs mmcv (2.0 <= mmcv < 2.4), which is not installed. '
    'Either install the lite build, which needs no compiler: '
    'pip install "ifam_mm[lite]" (from a checkout: pip install -e '
    '".[lite]"), or a full mmcv with compiled ops: '
    'mim install "mmcv>=2.0.0,<2.4.0". See docs/install.md.')


def require_mmcv() -> None:
    """Raise ImportError naming both ways to get mmcv if it is missing."""
    try:
        import mmcv  # noqa: F401
    except ImportError as err:
        raise ImportError(MMCV_MISSING) from err
