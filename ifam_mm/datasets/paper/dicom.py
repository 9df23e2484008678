# Copyright (c) ifam_mm contributors. All rights reserved.
"""Reading DICOM images, an optional extra that needs pydicom."""
import numpy as np

from mmpretrain.registry import TRANSFORMS
from ..transforms import LoadImageWithChecks


def has_pydicom() -> bool:
    """Whether the optional dependency pydicom can be imported."""
    try:
        import pydicom  # noqa: F401
    except ImportError:
        return False
    return True


def read_dicom(path: str) -> np.ndarray:
    """Read a single-frame greyscale DICOM image as uint8 [H, W].

    8-bit images (SIIM-ACR's) are returned as stored, as the reference does;
    images stored with more bits are scaled to 0-255 by their bit depth, and
    MONOCHROME1 images (bright means low) are inverted.

    Args:
        path (str): The ``.dcm`` file.

    Returns:
        np.ndarray: The pixels.
    """
    try:
        import pydicom
    except ImportError:
        raise ImportError(
            f'Reading the DICOM file {path!r} needs pydicom, an optional '
            'dependency of ifam_mm: pip install pydicom. Or convert the '
            'images to PNG once, on a machine with pydicom (e.g. '
            'tools/dataset_converters/prepare_siim_acr.py --format png), and '
            'load them with LoadImageFromFile.') from None
    dataset = pydicom.dcmread(path)
    pixels = dataset.pixel_array
    if pixels.ndim != 2:
        raise ValueError(f'{path}: expected a single-frame greyscale DICOM '
                         f'image, got pixel data of shape {pixels.shape}.')
    bits = int(getattr(dataset, 'BitsStored', 8))
    if bits > 8:
        pixels = pixels.astype(np.float64) * (255. / (2**bits - 1))
    img = np.clip(pixels, 0, 255).astype(np.uint8)
    if getattr(dataset, 'PhotometricInterpretation', '') == 'MONOCHROME1':
        img = 255 - img
    return img


@TRANSFORMS.register_module()
class LoadDicomFromFile(LoadImageWithChecks):
    """Load a ``.dcm`` image with pydicom; any other file as
    ``LoadImageWithChecks`` does.

    So one pipeline reads both layouts of SIIM-ACR, the reference's DICOM
    files and PNG conversions. DICOM images are read by :func:`read_dicom`
    and repeated to three channels unless ``color_type='grayscale'``.

    **Required Keys:** ``img_path``. **Modified Keys:** ``img``,
    ``img_shape``, ``ori_shape``.

    Args:
        **kwargs: Arguments of ``LoadImageWithChecks`` (``to_float32``,
            ``color_type``, ``skip_invalid``, ...).
    """

    def transform(self, results: dict) -> dict:
        """Load the image of ``results['img_path']``.

        Args:
            results (dict): The data dict.

        Returns:
            dict: The data dict with the image.
        """
        if not results['img_path'].lower().endswith('.dcm'):
            return super().transform(results)
        img = read_dicom(results['img_path'])
        if self.color_type != 'grayscale':
            img = np.repeat(img[..., None], 3, axis=2)
        if self.to_float32:
            img = img.astype(np.float32)
        results['img'] = img
        results['img_shape'] = img.shape[:2]
        results['ori_shape'] = img.shape[:2]
        return results
