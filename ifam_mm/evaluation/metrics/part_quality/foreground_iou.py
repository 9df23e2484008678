# Copyright (c) ifam_mm contributors. All rights reserved.
"""Foreground IoU of the stage-2 token mask against the object mask."""
from typing import Dict, Optional, Sequence

import numpy as np
from mmengine.evaluator import BaseMetric

from mmpretrain.registry import METRICS
from ..utils import get_field, warn
from .grid import as_bool_map, pixel_to_token, upsample_nearest

# Columns of a per-image record: token / pixel intersection and union.
_TOKEN_INTER, _TOKEN_UNION, _PIXEL_INTER, _PIXEL_UNION = range(4)


@METRICS.register_module()
class ForegroundIoU(BaseMetric):
    """IoU of the kept-token mask with the ground-truth foreground.

    Each data sample carries the model's ``pred_token_mask`` (bool
    ``[h, w]``, True = token kept for stage 2; a float mask is kept where
    > 0.5) and the dataset's ``gt_fg_mask`` (``[H, W]`` pixel mask of the
    network input, non-zero = foreground). IoU is compared at two
    resolutions:

    - token level: the ground truth is reduced to the grid, a token being
      foreground iff at least ``fg_threshold`` of its pixels are (pixel row
      ``r`` belongs to token row ``floor(r * h / H)``, exactly the patch
      when ``H`` is a multiple of ``h``);
    - pixel level: the token mask is upsampled to ``[H, W]`` by nearest
      neighbour (each pixel takes its token's value), so the patch-boundary
      background that stage 2 sees counts against the mask.

    Keys (``fg_iou/`` prefix by default), all percentages:

    - ``token_pooled`` / ``pixel_pooled``: pooled IoU, the sum of the
      intersections over the sum of the unions across the dataset (what the
      reference reports, a global IoU).
    - ``token_mean`` / ``pixel_mean``: mean over images of the per-image
      IoU. An image whose prediction and ground truth are both empty has an
      undefined IoU and is left out of the mean (it adds nothing to the
      pooled IoU either); NaN, with a warning, if every image is so.

    Args:
        fg_threshold (float): Fraction of a token's pixels that must be
            foreground for the token to be foreground at token level.
            Defaults to 0.5.
        collect_device (str): Device for gathering results across ranks,
            ``'cpu'`` or ``'gpu'``. Defaults to ``'cpu'``.
        prefix (str, optional): Key prefix. Defaults to None, which uses
            ``default_prefix = 'fg_iou'``.

    Examples:
        >>> import numpy as np
        >>> from ifam_mm.evaluation.metrics.part_quality import ForegroundIoU
        >>> # 4x4 pixels, 2x2 tokens of 2x2 pixels. Image a: the top-left
        >>> # token is kept; the object covers it and one pixel of the
        >>> # top-right token (1/4 < 0.5: a background token).
        >>> pred_a = np.array([[1, 0], [0, 0]])
        >>> gt_a = np.array([[1, 1, 1, 0],
        ...                  [1, 1, 0, 0],
        ...                  [0, 0, 0, 0],
        ...                  [0, 0, 0, 0]])
        >>> # Image b: everything kept, the object is the top-left token.
        >>> pred_b = np.ones((2, 2))
        >>> gt_b = np.kron(pred_a, np.ones((2, 2)))
        >>> # Image c: empty prediction on an empty object mask.
        >>> pred_c, gt_c = np.zeros((2, 2)), np.zeros((4, 4))
        >>> metrics = ForegroundIoU.calculate([pred_a, pred_b, pred_c],
        ...                                   [gt_a, gt_b, gt_c])
        >>> # Tokens: a 1/1, b 1/4; pooled 2/5, mean (1 + 1/4) / 2.
        >>> # Pixels: a 4/5, b 4/16; pooled 8/21, mean (4/5 + 1/4) / 2.
        >>> {key: round(value, 2) for key, value in metrics.items()}
        {'token_pooled': 40.0, 'token_mean': 62.5, 'pixel_pooled': 38.1, 'pixel_mean': 52.5}
    """  # noqa: E501
    default_prefix: Optional[str] = 'fg_iou'

    def __init__(self,
                 fg_threshold: float = 0.5,
                 collect_device: str = 'cpu',
                 prefix: Optional[str] = None) -> None:
        super().__init__(collect_device=collect_device, prefix=prefix)
        assert 0 < fg_threshold <= 1, \
            f'fg_threshold must lie in (0, 1], got {fg_threshold}.'
        self.fg_threshold = fg_threshold

    def process(self, data_batch, data_samples: Sequence[dict]) -> None:
        """Record four counts per sample (intersections and unions).

        Args:
            data_batch: A batch of data from the dataloader (unused).
            data_samples (Sequence[dict]): Model outputs as dicts.
        """
        for sample in data_samples:
            pred = get_field(
                sample, 'pred_token_mask', 'ForegroundIoU', from_model=True)
            gt = get_field(sample, 'gt_fg_mask', 'ForegroundIoU')
            self.results.append(self.image_counts(pred, gt, self.fg_threshold))

    def compute_metrics(self, results: list) -> Dict[str, float]:
        """Compute the metrics from the gathered records.

        Args:
            results (list): Records from :meth:`process` of all ranks.

        Returns:
            Dict[str, float]: Metric values (percentages), without prefix.
        """
        return self.summarise(np.stack(results))

    @staticmethod
    def image_counts(pred_token_mask,
                     gt_fg_mask,
                     fg_threshold: float = 0.5) -> np.ndarray:
        """Intersections and unions of one image at token and pixel level.

        Args:
            pred_token_mask: Bool-like ``[h, w]`` token mask.
            gt_fg_mask: Bool-like ``[H, W]`` pixel mask, ``H >= h`` and
                ``W >= w``.
            fg_threshold (float): See the class docstring.

        Returns:
            np.ndarray: int64 ``[4]``: token intersection, token union,
            pixel intersection, pixel union.
        """
        pred = as_bool_map(pred_token_mask, 'pred_token_mask')
        gt = as_bool_map(gt_fg_mask, 'gt_fg_mask')
        (h, w), (H, W) = pred.shape, gt.shape
        if h > H or w > W:
            raise ValueError(f'The token grid {pred.shape} is finer than the '
                             f'ground-truth mask {gt.shape}.')
        # Foreground fraction of each token's pixels, by bincount over the
        # flat token index of every pixel.
        token = (pixel_to_token(H, h)[:, None] * w +
                 pixel_to_token(W, w)[None, :]).ravel()
        fg_pixels = np.bincount(token, weights=gt.ravel(), minlength=h * w)
        all_pixels = np.bincount(token, minlength=h * w)
        gt_tokens = fg_pixels >= fg_threshold * all_pixels
        pred_tokens = pred.ravel()
        pred_pixels = upsample_nearest(pred, gt.shape)
        return np.array([
            np.sum(pred_tokens & gt_tokens),
            np.sum(pred_tokens | gt_tokens),
            np.sum(pred_pixels & gt),
            np.sum(pred_pixels | gt),
        ],
                        dtype=np.int64)

    @staticmethod
    def summarise(counts: np.ndarray) -> Dict[str, float]:
        """Pooled and per-image mean IoU from per-image counts.

        Args:
            counts (np.ndarray): ``[N, 4]`` rows of :meth:`image_counts`.

        Returns:
            Dict[str, float]: The keys of the class docstring.
        """
        counts = np.asarray(counts, dtype=np.int64).reshape(-1, 4)
        metrics = {}
        for level, inter, union in (('token', _TOKEN_INTER, _TOKEN_UNION),
                                    ('pixel', _PIXEL_INTER, _PIXEL_UNION)):
            inter, union = counts[:, inter], counts[:, union]
            defined = union > 0
            if not defined.any():
                warn(f'ForegroundIoU: every image has an empty {level} '
                     'prediction and ground truth; the IoUs are NaN.')
                metrics[f'{level}_pooled'] = metrics[f'{level}_mean'] = \
                    float('nan')
                continue
            metrics[f'{level}_pooled'] = float(100. * inter.sum() /
                                               union.sum())
            metrics[f'{level}_mean'] = float(
                100. * np.mean(inter[defined] / union[defined]))
        return metrics

    @classmethod
    def calculate(cls,
                  pred_token_masks: Sequence,
                  gt_fg_masks: Sequence,
                  fg_threshold: float = 0.5) -> Dict[str, float]:
        """Compute the metrics from token masks and object masks.

        Args:
            pred_token_masks (Sequence): One bool-like ``[h, w]`` token mask
                per image (tensors and arrays work).
            gt_fg_masks (Sequence): One bool-like ``[H, W]`` pixel mask per
                image.
            fg_threshold (float): See the class docstring. Defaults to 0.5.

        Returns:
            Dict[str, float]: The keys of the class docstring.
        """
        if not len(pred_token_masks) == len(gt_fg_masks) > 0:
            raise ValueError(
                'pred_token_masks and gt_fg_masks must have the '
                f'same non-zero length, got '
                f'{len(pred_token_masks)} and {len(gt_fg_masks)}.')
        return cls.summarise(
            np.stack([
                cls.image_counts(pred, gt, fg_threshold)
                for pred, gt in zip(pred_token_masks, gt_fg_masks)
            ]))
