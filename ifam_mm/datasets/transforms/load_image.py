# Copyright (c) ifam_mm contributors. All rights reserved.
"""Image loading whose failures name the file and whose conversions show."""
import io
import logging
from typing import List, Optional, Tuple

import mmcv
import numpy as np
from mmcv.transforms import LoadImageFromFile
from mmengine import fileio
from mmengine.logging import print_log
from PIL import Image

from mmpretrain.registry import TRANSFORMS

PNG_SIGNATURE = b'\x89PNG\r\n\x1a\n'
# Pillow modes of one-channel sources.
GRAY_MODES = ('1', 'L', 'LA', 'I', 'F')
# What mmcv's default cv2 decoder (flag 'color') makes of each source kind.
CONVERSIONS = dict(
    grayscale='grayscale; its channel is repeated to 3',
    alpha='with an alpha channel; alpha is dropped',
    deep='16-bit; its values are scaled to 8 bit (divided by 256)')


def source_kinds(img_bytes: bytes) -> List[str]:
    """Which of :data:`CONVERSIONS` an encoded image needs (header only).

    Args:
        img_bytes (bytes): The encoded file.

    Returns:
        list[str]: Keys of :data:`CONVERSIONS`; empty for 8-bit colour
        images and for formats Pillow cannot identify.
    """
    try:
        with Image.open(io.BytesIO(img_bytes)) as src:
            mode, info = src.mode, src.info
    except Exception:  # Pillow refuses it; the decoder may still read it.
        return []
    # Pillow reports 16-bit colour PNGs as 8-bit 'RGB'; their header says.
    deep_png = img_bytes[:8] == PNG_SIGNATURE and img_bytes[24:25] == b'\x10'
    kinds = []
    if mode in GRAY_MODES or mode.startswith('I;16'):
        kinds.append('grayscale')
    if 'A' in mode or 'transparency' in info:
        kinds.append('alpha')
    if mode.startswith('I') or deep_png:
        kinds.append('deep')
    return kinds


def _decoder_layout(img: np.ndarray,
                    color_type: str) -> Tuple[np.ndarray, List[str]]:
    """A decoded image as mmcv's decoder makes a file of its kind (8-bit,
    BGR for ``'color'``), and which :data:`CONVERSIONS` that took."""
    kinds = []
    if img.dtype == np.uint16:
        kinds.append('deep')
        img = (img // 256).astype(np.uint8)
    if img.ndim == 3 and img.shape[2] == 4:
        kinds.append('alpha')
        img = img[..., :3]
    if img.ndim == 2 or img.shape[2] == 1:
        kinds.append('grayscale')
        img = img.reshape(img.shape[:2])
        if color_type != 'grayscale':
            img = mmcv.gray2bgr(img)
    elif color_type == 'grayscale':
        img = mmcv.bgr2gray(img)
    return img, kinds


@TRANSFORMS.register_module()
class LoadImageWithChecks(LoadImageFromFile):
    """``LoadImageFromFile`` whose errors name the file and the fix, which
    logs the conversions it makes, and which can skip unreadable files.

    mmcv's loader decodes a grayscale, RGBA or 16-bit image to 8-bit BGR
    without a word, and fails on an empty, truncated or non-image file with
    an assertion or an OpenCV error that may not name the file. This one
    makes the same conversions but logs each kind once (per pipeline and
    data-loader worker, naming the first file), and raises ``OSError``
    naming the file.

    A data dict that has no ``img_path`` but an already decoded ``img``
    (what mmpretrain's ``ImageClassificationInferencer`` passes for a path
    or an array: it decodes before the pipeline) is brought to the layout
    the file decoder gives, with the same logged conversions: [H, W] or
    [H, W, 1] grayscale is repeated to 3 channels, [H, W, 4] BGRA loses
    alpha, uint16 is divided by 256. Arrays are read as BGR, as
    ``mmcv.imread`` returns them; any other dtype or shape is refused.

    **Required Keys:** ``img_path`` (or ``img``). **Modified Keys:**
    ``img``, ``img_shape``, ``ori_shape``.

    Args:
        skip_invalid (bool): Instead of raising, skip an unreadable file
            with a warning naming it (for large crawled training sets):
            mmengine's ``BaseDataset`` then draws another sample. Training
            only: a test-mode dataset refuses skipped samples. Defaults to
            False.
        **kwargs: Arguments of ``LoadImageFromFile`` (``to_float32``,
            ``color_type``, ``imdecode_backend``, ``backend_args``).
    """

    def __init__(self, skip_invalid: bool = False, **kwargs) -> None:
        for unsupported, instead in (('ignore_empty', 'skip_invalid=True'),
                                     ('file_client_args', 'backend_args')):
            if kwargs.get(unsupported) is not None:
                raise ValueError(f'LoadImageWithChecks: use {instead} '
                                 f'instead of {unsupported}.')
        super().__init__(**kwargs)
        self.skip_invalid = skip_invalid
        self._logged_kinds = set()

    def transform(self, results: dict) -> Optional[dict]:
        """Load the image of ``results['img_path']``.

        Args:
            results (dict): The data dict.

        Returns:
            dict | None: The data dict with the image; None for a skipped
            file.
        """
        if 'img_path' not in results:
            if 'img' not in results:
                raise KeyError(
                    "LoadImageWithChecks needs 'img_path' (a dataset record) "
                    "or 'img' (an image decoded by the caller, as "
                    "mmpretrain's ImageClassificationInferencer passes).")
            return self._from_array(results)
        path = results['img_path']
        try:
            img_bytes = fileio.get(path, backend_args=self.backend_args)
        except OSError as err:
            return self._invalid(path, str(err), err)
        try:
            img = mmcv.imfrombytes(
                img_bytes, flag=self.color_type, backend=self.imdecode_backend)
        # Decoders fail in their own ways (cv2.error, OSError, ValueError);
        # each becomes one error naming the file, chained to the original.
        except Exception as err:
            return self._invalid(path, 'cannot be decoded', err)
        if img is None:
            return self._invalid(path, 'cannot be decoded', None)
        if self.color_type != 'unchanged':
            self._log_conversions(path, img_bytes)
        if self.to_float32:
            img = img.astype('float32')
        results['img'] = img
        results['img_shape'] = img.shape[:2]
        results['ori_shape'] = img.shape[:2]
        return results

    def _from_array(self, results: dict) -> dict:
        """An image decoded by the caller, in the decoder's layout."""
        img = results['img']
        if (not isinstance(img, np.ndarray)
                or img.dtype not in (np.uint8, np.uint16)
                or img.ndim not in (2, 3)
                or (img.ndim == 3 and img.shape[2] not in (1, 3, 4))):
            described = (f'{img.dtype} array of shape {list(img.shape)}'
                         if isinstance(img, np.ndarray) else type(img).__name__)
            raise TypeError(
                f'LoadImageWithChecks: a decoded image must be a uint8 (or '
                f'uint16) array [H, W], [H, W, 1], [H, W, 3] (BGR, as '
                f'mmcv.imread returns) or [H, W, 4] (BGRA); got a '
                f'{described}. Convert it, e.g. '
                "np.clip(img * 255, 0, 255).astype('uint8') for floats in "
                '[0, 1], or pass the file path instead.')
        if self.color_type != 'unchanged':
            img, kinds = _decoder_layout(img, self.color_type)
            self._log(kinds, 'a decoded image')
        if self.to_float32:
            img = img.astype(np.float32)
        results['img'] = np.ascontiguousarray(img)
        results['img_shape'] = img.shape[:2]
        results['ori_shape'] = img.shape[:2]
        return results

    def _invalid(self, path: str, problem: str,
                 err: Optional[Exception]) -> None:
        message = (f'Image {path!r}: {problem} (an empty, truncated or '
                   'unreadable file, or not an image).')
        if self.skip_invalid:
            print_log(
                f'{message} Skipped (skip_invalid=True).',
                logger='current',
                level=logging.WARNING)
            return None
        raise OSError(f'{message} Replace or delete it, or set '
                      'skip_invalid=True on LoadImageWithChecks to skip such '
                      'files with a warning (training only).') from err

    def _log_conversions(self, path: str, img_bytes: bytes) -> None:
        self._log(source_kinds(img_bytes), repr(path))

    def _log(self, kinds: List[str], source: str) -> None:
        if self.color_type == 'grayscale' and 'grayscale' in kinds:
            kinds.remove('grayscale')  # asked for
        for kind in kinds:
            if kind in self._logged_kinds:
                continue
            self._logged_kinds.add(kind)
            print_log(
                f'LoadImageWithChecks: {source} is {CONVERSIONS[kind]}. '
                'Further such images are converted likewise without notice.',
                logger='current',
                level=logging.WARNING)
