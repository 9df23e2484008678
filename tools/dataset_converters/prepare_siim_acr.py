# Copyright (c) ifam_mm contributors. All rights reserved.
"""Build the SIIM-ACR train / full test / robust test sets of the papers.

Inputs (nothing is downloaded; see docs/datasets.md for where to get them):

* the Kaggle "SIIM-ACR pneumothorax segmentation" folder, with
  ``train-rle.csv`` (columns ``ImageId``, ``EncodedPixels``) and
  ``dicom-images-train/**/<ImageId>.dcm``;
* the chest-tube labels, ``cxr_tube_dict.pkl`` ({image id: 1 if a chest tube
  is present else 0}) or the same mapping as a JSON object.

Output, read by ``SIIMACR``: images with a tube label form the test sets
(``full_test_set``, split into ``robust_test_set`` = tube & negative or no
tube & positive, and ``non_robust_test_set`` = the rest); every other
labelled image goes to ``train_set``; each under ``0/`` (no pneumothorax)
or ``1/``. Optionally ``all_masks/<id>.png`` (0/255).

Differences from the reference preparation, on purpose: the masks are the
union of all of an image's RLE rows (the reference keeps the first row), and
they are decoded column-major as Kaggle encodes them (the reference's are
transposed). Labels and set membership are the same.

Example::

    python tools/dataset_converters/prepare_siim_acr.py \\
        data/siim-acr-pneumothorax-segmentation-data \\
        data/cxr_tube_dict.pkl data/siim_acr --format png
"""
import argparse
import importlib
import json
import os
import os.path as osp
import pickle
import shutil
from collections import Counter
from typing import Dict, List, Optional, Sequence

import cv2
import numpy as np

from ifam_mm.datasets.paper.dicom import read_dicom
from ifam_mm.datasets.paper.utils import read_csv, require_dir

SETS = ('train_set', 'full_test_set', 'robust_test_set', 'non_robust_test_set')
# Globals a pickled {str: int} may need when its values are numpy scalars;
# anything else (e.g. os.system) is refused instead of executed.
_SAFE_GLOBALS = {('numpy', 'dtype'), ('numpy.core.multiarray', 'scalar'),
                 ('numpy._core.multiarray', 'scalar')}


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument(
        'kaggle_root', help='folder with train-rle.csv and dicom-images-train')
    parser.add_argument(
        'tube_file', help='cxr_tube_dict.pkl or a JSON {id: 0/1}')
    parser.add_argument(
        'out_dir', help='output folder, without prepared sets in it yet')
    parser.add_argument(
        '--format',
        choices=('dcm', 'png'),
        default='dcm',
        help='copy the DICOM files (default, like the reference) or '
        'convert them to 8-bit PNG (needs pydicom)')
    parser.add_argument(
        '--no-masks', action='store_true', help='do not write all_masks/')
    parser.add_argument(
        '--mask-size',
        type=int,
        nargs=2,
        default=(1024, 1024),
        metavar=('H', 'W'),
        help='mask size when copying DICOMs (PNG conversion uses each '
        "image's size); SIIM-ACR images are 1024 x 1024")
    return parser.parse_args(argv)


class _RestrictedUnpickler(pickle.Unpickler):
    """Unpickle plain data only: no global outside ``_SAFE_GLOBALS``."""

    def find_class(self, module: str, name: str):
        if (module, name) not in _SAFE_GLOBALS:
            raise pickle.UnpicklingError(
                f'{module}.{name} is not allowed in a chest-tube label file '
                '(it should hold only {image id: 0/1}).')
        return getattr(importlib.import_module(module), name)


def load_tube_labels(path: str) -> Dict[str, int]:
    """Read the chest-tube labels from a pickle or JSON file.

    Args:
        path (str): ``cxr_tube_dict.pkl`` or a ``.json`` with the same dict.

    Returns:
        Dict[str, int]: {image id: 1 if a chest tube is present else 0}.
    """
    if not osp.isfile(path):
        raise FileNotFoundError(
            f'Chest-tube label file not found: {path!r}. Get '
            'cxr_tube_dict.pkl from the khaledsaab/spatial_specificity '
            'repository; see docs/datasets.md.')
    if path.endswith('.json'):
        with open(path) as f:
            labels = json.load(f)
    else:
        with open(path, 'rb') as f:
            labels = _RestrictedUnpickler(f).load()
    if not isinstance(labels, dict):
        raise ValueError(f'{path} must hold a dict {{image id: 0/1}}, got '
                         f'{type(labels).__name__}.')
    bad = {k: v for k, v in labels.items() if v not in (0, 1)}
    if bad:
        raise ValueError(f'{path}: tube labels must be 0 or 1, got '
                         f'{dict(list(bad.items())[:3])}.')
    return {str(k): int(v) for k, v in labels.items()}


def read_rle_table(path: str) -> Dict[str, List[str]]:
    """Read ``train-rle.csv``: {image id: its RLE strings, in file order}."""
    rows = read_csv(path, ('ImageId', 'EncodedPixels'),
                    'Use train-rle.csv of the Kaggle SIIM-ACR data.')
    rles: Dict[str, List[str]] = {}
    for row in rows:
        rles.setdefault(row['ImageId'].strip(),
                        []).append(row['EncodedPixels'].strip())
    return rles


def rle_decode(rle: str, height: int, width: int) -> np.ndarray:
    """Decode one SIIM-ACR run-length string into a uint8 0/1 mask.

    The string is pairs ``offset length``: each offset counts from the end
    of the previous run, and pixels are numbered column by column (Kaggle's
    ``mask_functions.py`` convention).

    Args:
        rle (str): The encoded pixels.
        height (int): Image height.
        width (int): Image width.

    Returns:
        np.ndarray: The mask [height, width].
    """
    values = [int(v) for v in rle.split()]
    if len(values) % 2:
        raise ValueError(f'An RLE needs offset/length pairs, got '
                         f'{len(values)} numbers.')
    flat = np.zeros(height * width, np.uint8)
    position = 0
    for offset, length in zip(values[0::2], values[1::2]):
        position += offset
        if position + length > flat.size:
            raise ValueError(f'RLE run ends at pixel {position + length}, '
                             f'beyond a {height} x {width} image.')
        flat[position:position + length] = 1
        position += length
    return flat.reshape(width, height).T


def union_mask(image_id: str, rles: Sequence[str], height: int,
               width: int) -> np.ndarray:
    """The union of an image's RLE masks (all zero without any)."""
    mask = np.zeros((height, width), np.uint8)
    for rle in rles:
        try:
            mask |= rle_decode(rle, height, width)
        except ValueError as e:
            raise ValueError(
                f'train-rle.csv, ImageId {image_id}: {e}') from None
    return mask


def find_dicoms(root: str) -> Dict[str, str]:
    """Map image id (file name stem) to path for every ``.dcm`` file."""
    found = {}
    for folder, _, files in os.walk(root):
        for name in files:
            if name.lower().endswith('.dcm'):
                image_id = osp.splitext(name)[0]
                if image_id in found:
                    raise ValueError(f'Two DICOM files for image {image_id}: '
                                     f'{found[image_id]} and '
                                     f'{osp.join(folder, name)}.')
                found[image_id] = osp.join(folder, name)
    return found


def target_sets(label: int, tube: Optional[int]) -> List[str]:
    """The output sets an image belongs to.

    Args:
        label (int): 1 pneumothorax, 0 none.
        tube (int, optional): 1 chest tube, 0 none, None unknown.

    Returns:
        List[str]: Names from ``SETS``.
    """
    if tube is None:
        return ['train_set']
    # The tube is the spurious cue for pneumothorax: when it disagrees with
    # the label the case is spurious-conflicting, i.e. "robust".
    subset = 'non_robust_test_set' if tube == label else 'robust_test_set'
    return ['full_test_set', subset]


def main(argv: Optional[Sequence[str]] = None) -> Dict[str, int]:
    """Run the preparation.

    Args:
        argv (Sequence[str], optional): Command-line arguments. Defaults to
            None, i.e. ``sys.argv``.

    Returns:
        Dict[str, int]: Image counts, ``'<set>/<label>'`` and ``'skipped_*'``.
    """
    args = parse_args(argv)
    rles = read_rle_table(osp.join(args.kaggle_root, 'train-rle.csv'))
    dicoms = find_dicoms(
        require_dir(
            osp.join(args.kaggle_root, 'dicom-images-train'), 'DICOM folder',
            'Extract the Kaggle SIIM-ACR data unchanged.'))
    tubes = load_tube_labels(args.tube_file)
    for name in SETS:
        target = osp.join(args.out_dir, name)
        if osp.isdir(target) and os.listdir(target):
            raise FileExistsError(
                f'{target} is not empty: remove it or choose another out_dir '
                'so that no image of an earlier run is left over.')

    counts: Counter = Counter()
    for image_id, image_rles in rles.items():
        if image_id not in dicoms:
            counts['skipped_no_dicom'] += 1
            continue
        encoded = [r for r in image_rles if r != '-1']
        label = int(bool(encoded))
        src = dicoms[image_id]
        img = read_dicom(src) if args.format == 'png' else None
        for name in target_sets(label, tubes.get(image_id)):
            folder = osp.join(args.out_dir, name, str(label))
            os.makedirs(folder, exist_ok=True)
            dst = osp.join(folder, f'{image_id}.{args.format}')
            if img is None:
                shutil.copyfile(src, dst)
            else:
                cv2.imwrite(dst, img)
            counts[f'{name}/{label}'] += 1
        if not args.no_masks:
            size = img.shape if img is not None else args.mask_size
            os.makedirs(osp.join(args.out_dir, 'all_masks'), exist_ok=True)
            cv2.imwrite(
                osp.join(args.out_dir, 'all_masks', f'{image_id}.png'),
                union_mask(image_id, encoded, *size) * 255)
    counts['skipped_tube_id_unlabelled'] = len(
        set(tubes) - (set(rles) & set(dicoms)))
    counts['skipped_dicom_unlabelled'] = len(set(dicoms) - set(rles))
    for key in sorted(counts):
        print(f'{key}: {counts[key]}')
    return dict(counts)


if __name__ == '__main__':
    main()
