# Copyright (c) ifam_mm contributors. All rights reserved.
"""Image loading whose failures name the file and whose conversions show."""
import io
import logging
from typing import List, Optional

import mmcv
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

    **Required Keys:** ``img_path``. **Modified Keys:** ``img``,
    ``img_shape``, ``ori_shape``.

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
        kinds = source_kinds(img_bytes)
        if self.color_type == 'grayscale' and 'grayscale' in kinds:
            kinds.remove('grayscale')  # asked for
        for kind in kinds:
            if kind in self._logged_kinds:
                continue
            self._logged_kinds.add(kind)
            print_log(
                f'LoadImageWithChecks: {path!r} is {CONVERSIONS[kind]}. '
                'Further such images are converted likewise without notice.',
                logger='current',
                level=logging.WARNING)
