# Copyright (c) ifam_mm contributors. All rights reserved.
"""Reading predicted maps and batch images for the visual audit."""
import os.path as osp
from typing import List, Tuple, Union

import numpy as np
import torch
import torch.nn.functional as F

from mmpretrain.structures import DataSample

ArrayLike = Union[np.ndarray, torch.Tensor]


def to_numpy(value: ArrayLike) -> np.ndarray:
    """A tensor (on any device) or array as a numpy array."""
    if torch.is_tensor(value):
        return value.detach().cpu().numpy()
    return np.asarray(value)


def check_part_map(part_map: ArrayLike, num_parts: int) -> np.ndarray:
    """A part map as an int64 [h, w] array of values ``0..K`` (K is
    background), or a ValueError naming the mismatch."""
    part_map = to_numpy(part_map)
    if part_map.ndim != 2:
        raise ValueError(f'A part map must be [h, w] on the token grid, got '
                         f'shape {list(part_map.shape)}.')
    if part_map.size and (part_map.min() < 0 or part_map.max() > num_parts):
        raise ValueError(
            f'The part map holds values {part_map.min()}..{part_map.max()}, '
            f'but K={num_parts} parts allow only 0..{num_parts} '
            f'({num_parts} = background). Pass the num_parts of the model '
            'that predicted it (model.part_head.num_parts).')
    return part_map.astype(np.int64)


def upsample_token_map(token_map: ArrayLike,
                       size: Tuple[int, int]) -> np.ndarray:
    """Nearest-neighbour upsampling of a token-grid map to ``size`` pixels.

    Token ``(i, j)`` of an [h, w] grid covers the pixels ``y`` with
    ``y * h // H == i`` (and likewise for x), as the patch embedding cut
    the image.
    """
    token_map = to_numpy(token_map)
    values = torch.from_numpy(token_map.astype(np.float32))
    big = F.interpolate(values[None, None], size=size, mode='nearest')[0, 0]
    return big.numpy().astype(token_map.dtype)


def images_from_batch(data_batch: dict, to_rgb: bool) -> List[np.ndarray]:
    """The batch's images as uint8 RGB [H, W, 3] arrays.

    ``data_batch['inputs']`` holds the pipeline's images before the data
    preprocessor, so they are still BGR when the preprocessor has
    ``to_rgb=True`` (``LoadImageFromFile`` reads BGR).
    """
    images = []
    for image in data_batch['inputs']:
        image = image.detach().cpu().permute(1, 2, 0).numpy()
        image = image.clip(0, 255).astype(np.uint8)
        images.append(np.ascontiguousarray(image[..., ::-1] if to_rgb else
                                           image))
    return images


def sample_name(data_sample: DataSample, index: int) -> str:
    """``<dataset index>_<file stem>``.

    The dataset index is the sample's ``sample_idx`` (packed by
    ``PackInputs``), which stays right under DDP; ``index`` stands in
    without it. The stem is left out when the sample has no ``img_path``.
    """
    index = int(data_sample.get('sample_idx', index))
    if 'img_path' not in data_sample:
        return str(index)
    stem = osp.splitext(osp.basename(data_sample.img_path))[0]
    return f'{index}_{stem}'


def num_parts_of(model) -> int:
    """K of a part-discovery model: ``part_head.num_parts``
    (IFAMClassifier), else ``head.num_parts`` (an ImageClassifier with a
    PDiscoFormerHead)."""
    for name in ('part_head', 'head'):
        head = getattr(model, name, None)
        if hasattr(head, 'num_parts'):
            return head.num_parts
    raise TypeError(
        f'{type(model).__name__} predicts no part maps: it has neither a '
        'part_head nor a head with num_parts. The visual audit needs an '
        'IFAMClassifier or an ImageClassifier with a PDiscoFormerHead.')
