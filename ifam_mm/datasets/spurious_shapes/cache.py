# Copyright (c) ifam_mm contributors. All rights reserved.
"""Generate SpuriousShapes once per parameter set and keep it on disk."""
import hashlib
import json
import os
import os.path as osp
import shutil
import tempfile

import cv2
import mmengine
import numpy as np
from mmengine.logging import print_log

from .generator import generate

# Bump whenever the generator's output changes for the same parameters, so
# that caches written by older code are not taken for current ones.
GENERATOR_VERSION = 1
RECORD_FILE = 'meta.json'


def cache_record(params: dict) -> dict:
    """Everything the generated pixels depend on.

    The library versions are part of it: another OpenCV may draw or resize
    a pixel differently, another scikit-image may ship other textures.
    """
    import skimage
    return dict(
        params=params,
        generator_version=GENERATOR_VERSION,
        numpy=np.__version__,
        opencv=cv2.__version__,
        scikit_image=skimage.__version__)


def _is_complete(folder: str, record: dict) -> bool:
    path = osp.join(folder, RECORD_FILE)
    if not osp.isfile(path):
        return False
    try:
        return mmengine.load(path) == json.loads(json.dumps(record))
    except ValueError:  # a damaged record file
        return False


def prepare_cache(data_root: str, params: dict) -> str:
    """Return the folder holding the dataset for ``params``, generating it
    if it is missing, incomplete or recorded with other parameters.

    The folder name carries a hash of the record, so different parameter
    sets (seeds, cues, sizes) live side by side under ``data_root``. A
    generation writes into a temporary sibling folder and renames it into
    place only when complete (the record file is written last): an
    interrupted run never leaves a folder that passes for a cache, and
    processes generating the same cache at once (e.g. distributed ranks)
    each end up with one complete copy.

    Args:
        data_root (str): Where caches live; created if missing.
        params (dict): Generator parameters (JSON-serialisable).

    Returns:
        str: The cache folder, with one ``<split>.json`` annotation file and
        ``<split>/img``, ``<split>/mask`` PNG folders per split.
    """
    record = cache_record(params)
    digest = hashlib.sha256(
        json.dumps(record, sort_keys=True).encode()).hexdigest()[:12]
    folder = osp.join(
        data_root,
        f"{params['cue']}-{params['fg_source']}-seed{params['seed']}-{digest}")
    if _is_complete(folder, record):
        return folder
    print_log(f'SpuriousShapes: generating {folder}', logger='current')
    os.makedirs(data_root, exist_ok=True)
    tmp = tempfile.mkdtemp(prefix='.tmp-', dir=data_root)
    try:
        generate(params, tmp)
        mmengine.dump(record, osp.join(tmp, RECORD_FILE), indent=2)
        if _is_complete(folder, record):
            return folder  # another process finished first
        if osp.exists(folder):
            # Stale (recorded with other parameters) or incomplete: move it
            # aside in one rename, then delete it.
            stale = tempfile.mkdtemp(prefix='.stale-', dir=data_root)
            os.replace(folder, osp.join(stale, 'old'))
            shutil.rmtree(stale)
        try:
            os.rename(tmp, folder)
        except OSError:
            # Another process renamed its complete copy in first.
            if not _is_complete(folder, record):
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return folder
