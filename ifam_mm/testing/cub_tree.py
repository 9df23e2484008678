# Copyright (c) ifam_mm contributors. All rights reserved.
"""A generated folder in the CUB_200_2011 layout, for timing real configs."""
import os
import os.path as osp

import cv2
import numpy as np


def make_cub_tree(root: str,
                  num_classes: int = 4,
                  num_per_class: int = 4,
                  img_size: int = 600,
                  seed: int = 0) -> str:
    """Write random-noise JPEGs with the annotation files ``CUB200`` reads.

    Every image is an official training image (``train_test_split.txt``
    is 1), plus one test image per class; the pixels carry no signal, so
    use it to run a pipeline and time a model, not to learn anything::

        root/classes.txt, images.txt, image_class_labels.txt,
        root/train_test_split.txt, images/<class>/<image>.jpg

    Args:
        root (str): Output directory, created if missing.
        num_classes (int): Classes (at most 200). Defaults to 4.
        num_per_class (int): Official training images per class.
            Defaults to 4.
        img_size (int): Side of the square images. Defaults to 600 (CUB's
            images are about 500 x 375; larger ones are resized anyway).
        seed (int): Seed of the pixels. Defaults to 0.

    Returns:
        str: ``root``.
    """
    if not 1 <= num_classes <= 200:
        raise ValueError(f'num_classes must be in [1, 200], got {num_classes}.')
    if num_per_class < 1:
        raise ValueError(f'num_per_class must be >= 1, got {num_per_class}.')
    rng = np.random.default_rng(seed)
    classes = [f'{c + 1:03d}.class_{c + 1}' for c in range(num_classes)]
    rows = []  # (image id, class id, is_train, name)
    for c, name in enumerate(classes):
        for i in range(num_per_class + 1):
            rows.append((len(rows) + 1, c + 1, int(i < num_per_class),
                         f'{name}/img_{i:04d}.jpg'))
    tables = {
        'classes.txt': [f'{c + 1} {n}' for c, n in enumerate(classes)],
        'images.txt': [f'{i} {n}' for i, _, _, n in rows],
        'image_class_labels.txt': [f'{i} {c}' for i, c, _, _ in rows],
        'train_test_split.txt': [f'{i} {t}' for i, _, t, _ in rows],
    }
    os.makedirs(root, exist_ok=True)
    for file_name, lines in tables.items():
        with open(osp.join(root, file_name), 'w') as f:
            f.write('\n'.join(lines) + '\n')
    for _, _, _, name in rows:
        path = osp.join(root, 'images', name)
        os.makedirs(osp.dirname(path), exist_ok=True)
        image = rng.integers(0, 256, (img_size, img_size, 3), np.uint8)
        cv2.imwrite(path, image)
    return root
