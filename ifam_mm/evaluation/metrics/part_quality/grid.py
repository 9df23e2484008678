# Copyright (c) ifam_mm contributors. All rights reserved.
"""Geometry shared by the part-quality metrics: pixels versus patch tokens.

Conventions (``docs/part_quality.md``): an image of ``H x W`` pixels is
covered by a grid of ``h x w`` tokens. Pixel row ``r`` belongs to token row
``floor(r * h / H)`` (likewise for columns), which is what nearest
upsampling of a token map does and, when ``H`` is a multiple of ``h``, is
exactly the ViT patch. Points are continuous ``(x, y)`` pixel coordinates:
pixel column ``c`` spans ``[c, c + 1)``, so a point lies in token column
``floor(x * w / W)``. Token ``(i, j)`` has centre point
``((j + 0.5) * W / w, (i + 0.5) * H / h)``, which lies in pixel
``(floor((i + 0.5) * H / h), floor((j + 0.5) * W / w))``.
"""
from typing import Any, Mapping, Tuple

import numpy as np
import torch

from ..utils import get_field


def to_numpy(value: Any) -> np.ndarray:
    """A tensor (any device), array, list or scalar as a numpy array."""
    if torch.is_tensor(value):
        value = value.detach().cpu()
    return np.asarray(value)


def as_map(value: Any, key: str) -> np.ndarray:
    """A 2-D map from a ``[h, w]`` value, dropping leading singleton dims.

    Masks often arrive as ``[1, H, W]`` (one channel), hence the squeeze.
    """
    array = to_numpy(value)
    while array.ndim > 2 and array.shape[0] == 1:
        array = array[0]
    if array.ndim != 2 or array.size == 0:
        raise ValueError(f'{key!r} must be a non-empty [h, w] map, got shape '
                         f'{tuple(array.shape)}.')
    return array


def as_bool_map(value: Any, key: str) -> np.ndarray:
    """A bool ``[h, w]`` map; a float map counts as True where > 0.5."""
    array = as_map(value, key)
    if np.issubdtype(array.dtype, np.floating):
        return array > 0.5
    return array != 0


def pixel_to_token(size: int, grid: int) -> np.ndarray:
    """Token index ``floor(r * grid / size)`` of each pixel ``r < size``."""
    return np.arange(size) * grid // size


def token_centres(size: int, grid: int) -> np.ndarray:
    """Pixel ``floor((i + 0.5) * size / grid)`` at each token's centre."""
    return (2 * np.arange(grid) + 1) * size // (2 * grid)


def upsample_nearest(token_map: np.ndarray, shape: Tuple[int,
                                                         int]) -> np.ndarray:
    """Nearest upsampling of a ``[h, w]`` token map to pixel ``shape``."""
    h, w = token_map.shape
    rows = pixel_to_token(shape[0], h)
    cols = pixel_to_token(shape[1], w)
    return token_map[rows[:, None], cols[None, :]]


def image_shape(data_sample: Mapping, metric: str) -> Tuple[int, int]:
    """``(H, W)`` of the network input, from the ``img_shape`` metainfo.

    ``PackInputs`` packs ``img_shape`` by default; it is the shape after the
    pipeline's resize and crop, i.e. the frame keypoints are given in.
    """
    shape = get_field(data_sample, 'img_shape', metric)
    return int(shape[0]), int(shape[1])


def visible_keypoints(keypoints: np.ndarray, shape: Tuple[int,
                                                          int]) -> np.ndarray:
    """Which keypoints count: ``visible > 0`` and inside the image.

    Args:
        keypoints (np.ndarray): ``[P, 3]`` rows of ``(x, y, visible)`` in
            pixel coordinates of an image of ``shape``.
        shape (Tuple[int, int]): Image size ``(H, W)``.

    Returns:
        np.ndarray: Bool ``[P]``, True where ``visible > 0`` and the point
        lies inside ``[0, W) x [0, H)``.
    """
    x, y, vis = np.asarray(keypoints, dtype=np.float64).reshape(-1, 3).T
    # A keypoint a crop cut off is as good as unannotated (the reference
    # dataset marks such keypoints invisible too).
    return (vis > 0) & (x >= 0) & (x < shape[1]) & (y >= 0) & (y < shape[0])


def keypoint_tokens(keypoints: np.ndarray, shape: Tuple[int, int],
                    grid: Tuple[int, int]) -> Tuple[np.ndarray, np.ndarray]:
    """The visible keypoints, and the token each one lies in.

    Args:
        keypoints (np.ndarray): ``[P, 3]`` rows of ``(x, y, visible)`` in
            pixel coordinates of an image of ``shape``.
        shape (Tuple[int, int]): Image size ``(H, W)``.
        grid (Tuple[int, int]): Token grid size ``(h, w)``.

    Returns:
        Tuple[np.ndarray, np.ndarray]: Indices ``[V]`` of the visible
        keypoints (see :func:`visible_keypoints`) and their tokens as int
        ``[V, 2]`` ``(row, col)``.
    """
    keypoints = np.asarray(keypoints, dtype=np.float64).reshape(-1, 3)
    index = np.flatnonzero(visible_keypoints(keypoints, shape))
    x, y = keypoints[index, 0], keypoints[index, 1]
    # The clip only guards against rounding for points a hair below H or W.
    rows = np.minimum(np.floor(y * grid[0] / shape[0]), grid[0] - 1)
    cols = np.minimum(np.floor(x * grid[1] / shape[1]), grid[1] - 1)
    return index, np.stack([rows, cols], axis=1).astype(np.int64)
