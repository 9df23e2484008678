# Copyright (c) ifam_mm contributors. All rights reserved.
"""Animal silhouettes from the ``animal-shape-mnist`` package, read safely.

The package ships 10,000 silhouettes (28 x 28 uint8, 1,000 for each of
COCO's ten animal classes) as two gzip-compressed pickles of numpy arrays.
Unpickling runs arbitrary code, so the files are never unpickled: their
pickle opcodes are only *parsed* (``pickletools.genops`` decodes and never
executes) to check that they describe a plain numeric array, and the raw
array bytes are then read with ``np.frombuffer``. The package's own loader
is not imported either: it imports tensorflow at module level.
"""
import gzip
import importlib.util
import os.path as osp
import pickletools
from functools import lru_cache
from typing import Tuple

import numpy as np

ANIMAL_CLASSES = ('bear', 'bird', 'cat', 'cow', 'dog', 'elephant', 'giraffe',
                  'horse', 'sheep', 'zebra')
SILHOUETTE_SIZE = 28
# Every string a pickled plain ndarray holds (module and class names, dtype
# and byte-order codes); anything else means the file is not what this
# reader understands.
_ALLOWED_STRINGS = {'numpy.core.multiarray', '_reconstruct', 'numpy',
                    'ndarray', 'dtype', 'u1', 'i8', '<', '|'}
_ALLOWED_DTYPES = {'u1': np.uint8, 'i8': np.dtype('<i8')}


def _data_dir() -> str:
    # The package has no __init__.py (it ships ``_init_.py``), so it is a
    # namespace package: find its folder without importing anything.
    spec = importlib.util.find_spec('animal_shape_mnist')
    if spec is None or not spec.submodule_search_locations:
        raise ImportError(
            "fg_source='animals' needs the animal silhouettes of the "
            'optional package "animal-shape-mnist": pip install '
            '"ifam_mm[animals]" (from a checkout: pip install -e '
            '".[animals]"), or use fg_source=\'creatures\'.')
    return osp.join(list(spec.submodule_search_locations)[0], 'data',
                    'Animal Shape')


def read_pickled_array(path: str) -> np.ndarray:
    """Read a gzip-pickled plain numpy array without unpickling it.

    Args:
        path (str): A ``.gz`` file holding one pickled uint8 or int64 array.

    Returns:
        np.ndarray: The flat array (reshape it yourself).

    Raises:
        ValueError: If the pickle refers to anything but numpy's array
            reconstruction, has another dtype, or does not hold exactly one
            array buffer.
    """
    with gzip.open(path, 'rb') as f:
        raw = f.read()
    strings, buffers = set(), []
    for opcode, arg, _ in pickletools.genops(raw):
        if opcode.name in ('GLOBAL', 'INST', 'OBJ', 'NEWOBJ', 'NEWOBJ_EX',
                           'EXT1', 'EXT2', 'EXT4', 'PERSID', 'BINPERSID'):
            raise ValueError(f'{path}: unexpected pickle opcode '
                             f'{opcode.name}; refusing to read it.')
        if isinstance(arg, str):
            strings.add(arg)
        elif isinstance(arg, (bytes, bytearray)) and len(arg) > 1:
            buffers.append(arg)
    unknown = strings - _ALLOWED_STRINGS
    dtypes = strings & set(_ALLOWED_DTYPES)
    if unknown or len(dtypes) != 1 or len(buffers) != 1:
        raise ValueError(
            f'{path}: expected one pickled uint8 or int64 array, found '
            f'unknown names {sorted(unknown)}, dtypes {sorted(dtypes)} and '
            f'{len(buffers)} buffers; refusing to read it.')
    dtype = _ALLOWED_DTYPES[dtypes.pop()]
    return np.frombuffer(buffers[0], dtype=dtype)


@lru_cache(maxsize=1)
def load_animal_silhouettes() -> Tuple[np.ndarray, np.ndarray]:
    """All animal silhouettes and their class indices into ANIMAL_CLASSES.

    Returns:
        tuple[np.ndarray, np.ndarray]: Read-only images [N, 28, 28] uint8
        (white animal on black, anti-aliased) and labels [N] int64.
    """
    root = _data_dir()
    images = read_pickled_array(osp.join(root, 'animal_data_version_3.gz'))
    labels = read_pickled_array(osp.join(root, 'animal_label_version_3.gz'))
    side = SILHOUETTE_SIZE
    if images.size != len(labels) * side * side or labels.min() < 0 or (
            labels.max() >= len(ANIMAL_CLASSES)):
        raise ValueError('animal-shape-mnist data do not match 28 x 28 '
                         f'silhouettes with labels 0-9: {images.size} pixels, '
                         f'{len(labels)} labels.')
    return images.reshape(-1, side, side), labels.astype(np.int64)
