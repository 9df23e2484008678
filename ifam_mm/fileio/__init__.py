# Copyright (c) ifam_mm contributors. All rights reserved.
from .atomic_local_backend import AtomicLocalBackend, write_atomically

__all__ = ['AtomicLocalBackend', 'write_atomically']
