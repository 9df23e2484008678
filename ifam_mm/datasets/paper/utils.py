# Copyright (c) ifam_mm contributors. All rights reserved.
"""Helpers shared by the paper-dataset loaders: splits and file reading.

Every error raised here names the file, what is wrong with it and how to
fix it, because a dataset of thousands of images usually breaks on one bad
line that the user then has to find.
"""
import csv
import hashlib
import logging
import os
import os.path as osp
from typing import Dict, List, Sequence

import numpy as np
from mmengine.logging import print_log

# The split alias that loads the test split for checkpoint selection, the
# iFAM reference protocol. Explicit and loud because it biases test numbers.
TEST_AS_VAL = 'test_as_val'


def resolve_split(dataset: str, split: str, splits: Sequence[str]) -> str:
    """Check a split name; map the ``'test_as_val'`` alias to ``'test'``.

    Args:
        dataset (str): Dataset class name, for messages.
        split (str): The requested split.
        splits (Sequence[str]): The dataset's own split names; ``'test'``
            must be one of them for the alias to apply.

    Returns:
        str: The split to load.
    """
    if split == TEST_AS_VAL and 'test' in splits:
        print_log(
            f'{dataset}: split="{TEST_AS_VAL}" loads the TEST split as a '
            'validation set, as the iFAM reference code does. A checkpoint '
            'selected on it makes the test numbers optimistically biased; '
            'select on split="val" and evaluate split="test" once.',
            logger='current',
            level=logging.WARNING)
        return 'test'
    allowed = tuple(splits) + ((TEST_AS_VAL, ) if 'test' in splits else ())
    if split not in allowed:
        raise ValueError(f'{dataset}: unknown split {split!r}; choose one of '
                         f'{allowed}.')
    return split


def holdout_mask(keys: Sequence[str], labels: Sequence[int], fraction: float,
                 seed: int) -> np.ndarray:
    """Choose a class-stratified, deterministic held-out subset.

    Within each class, samples are ranked by the SHA-1 of ``'<seed>/<key>'``
    and the first ``round(fraction * n)`` are held out. Hashing rather than a
    seeded shuffle keeps the choice identical across numpy versions and
    machines, and independent of file order and of where the data lives.

    Args:
        keys (Sequence[str]): A stable identifier per sample, e.g. its path
            relative to the dataset root.
        labels (Sequence[int]): Class of each sample.
        fraction (float): Fraction of each class to hold out, in [0, 1).
        seed (int): Changes which samples are held out.

    Returns:
        np.ndarray: Bool mask, True for held-out samples.
    """
    if not 0 <= fraction < 1:
        raise ValueError(f'val_fraction must lie in [0, 1), got {fraction}.')
    labels = np.asarray(labels)
    ranks = np.array(
        [hashlib.sha1(f'{seed}/{key}'.encode()).hexdigest() for key in keys])
    mask = np.zeros(len(keys), dtype=bool)
    for label in np.unique(labels):
        members = np.flatnonzero(labels == label)
        num_val = int(np.floor(fraction * len(members) + 0.5))
        mask[members[np.argsort(ranks[members])[:num_val]]] = True
    return mask


def select_holdout(dataset: str, data_list: List[dict], keys: Sequence[str],
                   split: str, fraction: float, seed: int) -> List[dict]:
    """Split an official training set into ``train``, ``val``, ``trainval``.

    Args:
        dataset (str): Dataset class name, for messages.
        data_list (List[dict]): The official training samples, each with a
            ``gt_label``.
        keys (Sequence[str]): Stable identifier of each sample.
        split (str): ``'train'`` (without the held-out part), ``'val'`` (the
            held-out part) or ``'trainval'`` (everything).
        fraction (float): See :func:`holdout_mask`.
        seed (int): See :func:`holdout_mask`.

    Returns:
        List[dict]: The samples of ``split``.
    """
    if split == 'trainval':
        return data_list
    labels = [d['gt_label'] for d in data_list]
    mask = holdout_mask(keys, labels, fraction, seed)
    if split == 'val' and fraction == 0:
        raise ValueError(
            f'{dataset}: split="val" is empty with val_fraction={fraction}. '
            'Set val_fraction > 0 (e.g. 0.1) to hold out part of the '
            'training set for model selection.')
    if split == 'val':
        _check_every_class_held_out(dataset, labels, mask, fraction)
    keep = mask if split == 'val' else ~mask
    return [d for d, k in zip(data_list, keep) if k]


def _check_every_class_held_out(dataset: str, labels: Sequence[int],
                                mask: np.ndarray, fraction: float) -> None:
    """Raise ValueError, with the class sizes and a fraction that works, if
    ``split='val'`` would miss a class (``round(fraction * n)`` is 0)."""
    labels = np.asarray(labels)
    sizes = {int(c): int((labels == c).sum()) for c in np.unique(labels)}
    missing = [c for c in sizes if not mask[labels == c].any()]
    if not missing:
        return
    listed = ', '.join(f'class {c}: {sizes[c]}' for c in missing[:10])
    if len(missing) > 10:
        listed += f', ... ({len(missing)} classes in all)'
    smallest = min(sizes[c] for c in missing)
    # round(f * n) >= 1 needs f >= 0.5 / n; a class of one image cannot
    # give one to val and keep one for train.
    fix = (f'val_fraction >= {np.ceil(500 / smallest) / 1000:g} holds out '
           'one image of '
           'each' if smallest > 1 else
           'a class of 1 image cannot be split: add images to it')
    raise ValueError(
        f'{dataset}: split="val" would hold out no image of '
        f'{len(missing)} of {len(sizes)} classes with '
        f'val_fraction={fraction}, which needs at least '
        f'{int(np.ceil(0.5 / fraction))} training images per class. '
        f'Training images of those classes: {listed}. Fix: {fix}, or '
        "evaluate on split='test' (or train on split='trainval').")


def require_file(path: str, what: str, fix: str) -> str:
    """Return ``path`` or raise FileNotFoundError naming it and the fix."""
    if not osp.isfile(path):
        raise FileNotFoundError(f'{what} not found: {path!r}. {fix}')
    return path


def require_dir(path: str, what: str, fix: str) -> str:
    """Return ``path`` or raise FileNotFoundError naming it and the fix."""
    if not osp.isdir(path):
        raise FileNotFoundError(f'{what} not found: {path!r}. {fix}')
    return path


def check_files(paths: Sequence[str], what: str, fix: str) -> None:
    """Raise FileNotFoundError if any of ``paths`` is not a file.

    Args:
        paths (Sequence[str]): Files the data list refers to.
        what (str): What they are, e.g. ``'Waterbirds images'``.
        fix (str): How to fix a missing one.
    """
    missing = [p for p in paths if not osp.isfile(p)]
    if missing:
        raise FileNotFoundError(
            f'{len(missing)} of {len(paths)} {what} are missing, e.g. '
            f'{missing[:3]}. {fix}')


def read_table(path: str, num_fields: int, fix: str) -> List[List[str]]:
    """Read a whitespace-separated text table such as CUB's ``images.txt``.

    The last field takes the rest of the line, so names with spaces (CUB's
    ``left eye``) stay whole. Blank lines are skipped.

    Args:
        path (str): The file.
        num_fields (int): Fields per line.
        fix (str): How to obtain a correct file, for messages.

    Returns:
        List[List[str]]: The fields of each line.
    """
    require_file(path, 'Annotation file', fix)
    rows = []
    with open(path) as f:
        for line_no, line in enumerate(f, 1):
            if not line.strip():
                continue
            fields = line.strip().split(maxsplit=num_fields - 1)
            if len(fields) != num_fields:
                raise ValueError(
                    f'{path}, line {line_no}: expected {num_fields} '
                    f'whitespace-separated fields, got {line.rstrip()!r}. '
                    f'{fix}')
            rows.append(fields)
    return rows


def read_csv(path: str, columns: Sequence[str], fix: str) -> List[Dict]:
    """Read a CSV file with a header and check that it has ``columns``.

    Header names are stripped, because Kaggle's SIIM-ACR file spells one
    column ``' EncodedPixels'``.

    Args:
        path (str): The file.
        columns (Sequence[str]): Columns that must be present.
        fix (str): How to obtain a correct file, for messages.

    Returns:
        List[Dict]: One dict per row, with a ``'_line'`` entry giving the
        row's line number for later messages.
    """
    require_file(path, 'Annotation file', fix)
    with open(path, newline='') as f:
        reader = csv.DictReader(f)
        header = [name.strip() for name in reader.fieldnames or []]
        missing = [c for c in columns if c not in header]
        if missing:
            raise ValueError(f'{path} has no column {missing} (columns '
                             f'found: {header}). {fix}')
        reader.fieldnames = header
        return [dict(row, _line=reader.line_num) for row in reader]


def parse_int(value: str, allowed: Sequence[int], where: str, fix: str) -> int:
    """Parse one integer annotation and check its range.

    Args:
        value (str): The text to parse.
        allowed (Sequence[int]): Valid values (a ``range`` works).
        where (str): File, line and column, for messages.
        fix (str): How to fix it, for messages.

    Returns:
        int: The value.
    """
    try:
        number = int(value)
    except (TypeError, ValueError):
        raise ValueError(
            f'{where}: {value!r} is not an integer. {fix}') from None
    if number not in allowed:
        raise ValueError(f'{where}: {number} is out of range (expected one '
                         f'of {_describe(allowed)}). {fix}')
    return number


def parse_float(value: str, where: str, fix: str) -> float:
    """Parse one real-valued annotation, naming ``where`` if it fails."""
    try:
        return float(value)
    except (TypeError, ValueError):
        raise ValueError(
            f'{where}: {value!r} is not a number. {fix}') from None


def _describe(allowed: Sequence[int]) -> str:
    """``range(1, 201)`` -> ``'1..200'``; other sequences as a list."""
    if isinstance(allowed, range) and len(allowed) > 3:
        return f'{allowed.start}..{allowed.stop - 1}'
    return str(list(allowed))


def list_images(folder: str, extensions: Sequence[str]) -> List[str]:
    """Relative paths of the files under ``folder`` with an image extension.

    Args:
        folder (str): Folder to walk recursively.
        extensions (Sequence[str]): Lower-case extensions, with the dot.

    Returns:
        List[str]: Sorted paths relative to ``folder``, with ``/``.
    """
    found = []
    for root, _, files in os.walk(folder, followlinks=True):
        found.extend(
            osp.relpath(osp.join(root, name), folder).replace(osp.sep, '/')
            for name in files if name.lower().endswith(tuple(extensions)))
    return sorted(found)


def sub_dirs(folder: str) -> List[str]:
    """Sorted names of the folders directly inside ``folder``."""
    return sorted(e.name for e in os.scandir(folder) if e.is_dir())
