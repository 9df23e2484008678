# Copyright (c) ifam_mm contributors. All rights reserved.
"""Background textures: scikit-image's bundled CC0 images, crop by crop."""
from functools import lru_cache

import cv2
import numpy as np

# 512 x 512 greyscale textures shipped inside scikit-image (no download);
# their docstrings state CC0 / public domain.
TEXTURES = ('grass', 'brick', 'gravel')
# Every texture is standardised to this grey mean and contrast so that no
# texture differs from another in brightness alone: a cue is then a texture
# (many pixels), never a single grey level that leaks through one pixel.
TEXTURE_MEAN = 128.
TEXTURE_STD = 40.


@lru_cache(maxsize=None)
def load_texture(name: str) -> np.ndarray:
    """A bundled texture, standardised to TEXTURE_MEAN and TEXTURE_STD.

    Args:
        name (str): One of :data:`TEXTURES`.

    Returns:
        np.ndarray: Read-only float32 image [512, 512] in [0, 255].
    """
    if name not in TEXTURES:
        raise ValueError(f'Unknown texture {name!r}; choose from {TEXTURES}.')
    try:
        from skimage import data
    except ImportError as err:
        raise ImportError('SpuriousShapes needs the textures of scikit-image: '
                          'pip install scikit-image') from err
    img = getattr(data, name)().astype(np.float32)
    img = (img - img.mean()) / img.std() * TEXTURE_STD + TEXTURE_MEAN
    img = np.clip(img, 0, 255)
    img.flags.writeable = False
    return img


def random_crop(name: str, size: int, rng: np.random.Generator,
                crop_range=(128, 256)) -> np.ndarray:
    """A random square crop of a texture, flipped/rotated, resized to size.

    Crops of random side, offset and orientation give an unlimited supply of
    distinct backgrounds from one texture.

    Args:
        name (str): Texture name, one of :data:`TEXTURES`.
        size (int): Output side in pixels.
        rng (np.random.Generator): Source of randomness.
        crop_range (tuple[int, int]): Range of the crop side in texture
            pixels. Defaults to (128, 256).

    Returns:
        np.ndarray: uint8 image [size, size].
    """
    texture = load_texture(name)
    side = int(rng.integers(crop_range[0], crop_range[1], endpoint=True))
    y, x = rng.integers(0, texture.shape[0] - side, size=2, endpoint=True)
    crop = np.rot90(texture[y:y + side, x:x + side], k=int(rng.integers(4)))
    crop = cv2.resize(
        np.ascontiguousarray(crop), (size, size),
        interpolation=cv2.INTER_AREA)
    return np.round(crop).astype(np.uint8)
