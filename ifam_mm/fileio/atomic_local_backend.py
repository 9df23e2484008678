# Copyright (c) ifam_mm contributors. All rights reserved.
"""A local file backend whose writes survive a kill (docs/reliability.md)."""
import contextlib
import os
import os.path as osp
from pathlib import Path
from typing import Union

import mmengine
from mmengine.fileio.backends import LocalBackend, register_backend


def write_atomically(filepath: Union[str, Path],
                     data: Union[bytes, str],
                     mode: str = 'wb',
                     **kwargs) -> None:
    """Write a file so that a kill at any moment leaves the old content or
    the new one, never part of it.

    The data go to a temporary sibling, are flushed to the disk, and the
    sibling is renamed over ``filepath`` (``os.replace`` is atomic within a
    file system).

    Args:
        filepath (str | Path): Destination.
        data (bytes | str): Content.
        mode (str): ``'wb'`` or ``'w'``. Defaults to ``'wb'``.
        **kwargs: Passed to ``open`` (``encoding``).
    """
    tmp = f'{filepath}.{os.getpid()}.tmp'
    try:
        with open(tmp, mode, **kwargs) as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, filepath)
    except BaseException:
        with contextlib.suppress(OSError):
            os.remove(tmp)
        raise


class AtomicLocalBackend(LocalBackend):
    """mmengine's ``LocalBackend`` with atomic ``put`` and ``put_text``.

    Registered as the file backend ``'atomic_local'`` with no URI prefix,
    so it is used only where ``backend_args=dict(backend='atomic_local')``
    asks for it (as :class:`AtomicCheckpointHook` does); every other path
    keeps mmengine's own backend.

    Examples:
        >>> from mmengine.fileio import get_file_backend
        >>> import ifam_mm  # noqa: F401  (registers the backend)
        >>> backend = get_file_backend(
        ...     'work_dirs/epoch_1.pth',
        ...     backend_args=dict(backend='atomic_local'))
        >>> type(backend).__name__
        'AtomicLocalBackend'
    """

    def put(self, obj: bytes, filepath: Union[str, Path]) -> None:
        """Write bytes to ``filepath`` atomically, creating its directory."""
        mmengine.mkdir_or_exist(osp.dirname(filepath))
        write_atomically(filepath, obj, 'wb')

    def put_text(self,
                 obj: str,
                 filepath: Union[str, Path],
                 encoding: str = 'utf-8') -> None:
        """Write text to ``filepath`` atomically, creating its directory."""
        mmengine.mkdir_or_exist(osp.dirname(filepath))
        write_atomically(filepath, obj, 'w', encoding=encoding)


register_backend('atomic_local', AtomicLocalBackend)
