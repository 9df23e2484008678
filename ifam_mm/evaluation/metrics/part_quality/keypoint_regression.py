# Copyright (c) ifam_mm contributors. All rights reserved.
"""Keypoint regression from part centroids (the CUB "Kp" protocol)."""
from typing import Dict, Optional, Sequence

import numpy as np
from mmengine.evaluator import BaseMetric

from mmpretrain.registry import METRICS
from ..utils import as_int, get_field, warn
from .grid import as_map, image_shape, to_numpy, visible_keypoints

NORMALIZE = ('bbox', 'image')


@METRICS.register_module()
class KeypointRegression(BaseMetric):
    """How well part centroids locate ground-truth keypoints.

    Each data sample carries the model's ``pred_part_map`` (int ``[h, w]``,
    ``K = num_parts`` = background), the dataset's ``gt_keypoints`` (``[P,
    3]`` rows of ``(x, y, visible)`` in pixel coordinates of the network
    input, whose size comes from the ``img_shape`` metainfo; mmcv's
    one-object ``[1, P, 3]`` works too) and, with ``normalize='bbox'``,
    ``gt_bboxes`` (the object's ``x1, y1, x2, y2`` in the same coordinates,
    ``[4]`` or mmcv's ``[1, 4]``). The protocol:

    1. Features: the centroid of each foreground part ``k``, the mean of the
       centres ``((j + 0.5) * W / w, (i + 0.5) * H / h)`` of the tokens
       labelled ``k``, as ``(x, y)``: ``2K`` numbers per image. Keypoints
       and centroids are normalised to the box, ``((x - x1) / (x2 - x1),
       (y - y1) / (y2 - y1))`` (``normalize='bbox'``), or to the image,
       ``(x / W, y / H)`` (``normalize='image'``).
    2. A part absent from an image (no token labelled ``k``) gets the mean
       of that coordinate over the images the regressor is fitted on where
       the part is present (0 if it is absent from all of them), so it adds
       no information.
    3. Per keypoint ``p``: an affine least-squares fit (with intercept) of
       its ``(x, y)`` on the ``2K`` features, over the fit images where
       ``p`` is visible.
    4. Error: the L2 distance between the predicted and the true keypoint,
       in normalised units, averaged over every visible keypoint of every
       evaluated image.

    Visible means ``visible > 0`` and inside ``[0, W) x [0, H)``. The fit
    and evaluation images come from the evaluated dataset itself:

    - by default, ``num_folds``-fold cross-validation: image number ``i``
      (in dataset order) is in fold ``i % num_folds``; each fold is
      predicted by a regressor fitted on the other folds, so each image is
      evaluated once and never by a regressor that saw it;
    - with ``fit_key``, each sample carries a bool field of that name:
      fitted on the True samples, evaluated on the False ones. Evaluate on
      CUB train + test (a ``ConcatDataset``) with the train images marked to
      get the paper's protocol (fit on train, report on test).

    Keys (``kp/`` prefix by default): ``mean_error``, 100 times the mean
    error (the unit of the papers' "Kp" column). NaN, with a warning, if no
    visible keypoint could be evaluated. A keypoint with no visible fit
    instance cannot be regressed: its instances are left out, with a
    warning.

    Args:
        num_parts (int): Number of foreground parts ``K`` of the model.
        normalize (str): ``'bbox'`` or ``'image'``, the unit of the error.
            Defaults to ``'bbox'``.
        num_folds (int): Folds of the cross-validation. Defaults to 5.
        fit_key (str, optional): Per-sample bool field that marks the fit
            images. Defaults to None: cross-validation.
        collect_device (str): Device for gathering results across ranks,
            ``'cpu'`` or ``'gpu'``. Defaults to ``'cpu'``.
        prefix (str, optional): Key prefix. Defaults to None, which uses
            ``default_prefix = 'kp'``.

    Examples:
        >>> import numpy as np
        >>> from ifam_mm.evaluation.metrics.part_quality import (
        ...     KeypointRegression)
        >>> # One part, always at the same place: the centroid tells
        >>> # nothing, so each fold predicts the mean of the other fold.
        >>> centroids = np.full((4, 1, 2), 0.5)
        >>> keypoints = np.array([[[0.1, 0.5]], [[0.2, 0.5]],
        ...                       [[0.3, 0.5]], [[0.6, 0.5]]])
        >>> visible = np.ones((4, 1), dtype=bool)
        >>> # Folds {0, 2} and {1, 3}: predictions 0.4 and 0.2 for x,
        >>> # errors 0.3, 0.1 and 0.0, 0.4.
        >>> metrics = KeypointRegression.calculate(
        ...     centroids, keypoints, visible, num_folds=2)
        >>> round(metrics['mean_error'], 6)
        20.0
    """
    default_prefix: Optional[str] = 'kp'

    def __init__(self,
                 num_parts: int,
                 normalize: str = 'bbox',
                 num_folds: int = 5,
                 fit_key: Optional[str] = None,
                 collect_device: str = 'cpu',
                 prefix: Optional[str] = None) -> None:
        super().__init__(collect_device=collect_device, prefix=prefix)
        assert num_parts >= 1, f'num_parts must be >= 1, got {num_parts}.'
        assert normalize in NORMALIZE, \
            f'normalize must be one of {NORMALIZE}, got {normalize!r}.'
        assert num_folds >= 2, f'num_folds must be >= 2, got {num_folds}.'
        self.num_parts = num_parts
        self.normalize = normalize
        self.num_folds = num_folds
        self.fit_key = fit_key

    def process(self, data_batch, data_samples: Sequence[dict]) -> None:
        """Record normalised centroids and keypoints of each sample.

        Args:
            data_batch: A batch of data from the dataloader (unused).
            data_samples (Sequence[dict]): Model outputs as dicts.
        """
        for sample in data_samples:
            self.results.append(self._record(sample))

    def _record(self, sample: dict) -> dict:
        """Centroids and keypoints of one sample in normalised units."""
        name = 'KeypointRegression'
        part_map = as_map(
            get_field(sample, 'pred_part_map', name, from_model=True),
            'pred_part_map')
        shape = image_shape(sample, name)
        keypoints = to_numpy(get_field(sample, 'gt_keypoints', name))
        keypoints = keypoints.astype(np.float64).reshape(-1, 3)
        if self.normalize == 'bbox':
            x1, y1, x2, y2 = to_numpy(get_field(sample, 'gt_bboxes',
                                                name)).reshape(4)
            origin, scale = np.array([x1, y1]), np.array([x2 - x1, y2 - y1])
            if (scale <= 0).any():
                raise ValueError(
                    'gt_bboxes must be (x1, y1, x2, y2) with '
                    f'x2 > x1 and y2 > y1, got {(x1, y1, x2, y2)}.')
        else:
            origin, scale = np.zeros(2), np.array([shape[1], shape[0]])
        centroids = self.part_centroids(part_map, shape, self.num_parts)
        record = dict(
            centroids=(centroids - origin) / scale,
            keypoints=(keypoints[:, :2] - origin) / scale,
            visible=visible_keypoints(keypoints, shape))
        if self.fit_key is not None:
            record['fit'] = bool(
                as_int(get_field(sample, self.fit_key, name), self.fit_key))
        return record

    def compute_metrics(self, results: list) -> Dict[str, float]:
        """Compute the metrics from the gathered records.

        Args:
            results (list): Records from :meth:`process` of all ranks, in
                dataset order (``collect_results`` restores it).

        Returns:
            Dict[str, float]: ``mean_error``, without prefix.
        """
        fit = None
        if self.fit_key is not None:
            fit = np.array([r['fit'] for r in results])
        return self.calculate(
            np.stack([r['centroids'] for r in results]),
            np.stack([r['keypoints'] for r in results]),
            np.stack([r['visible'] for r in results]),
            fit=fit,
            num_folds=self.num_folds)

    @staticmethod
    def part_centroids(part_map, shape: Sequence[int],
                       num_parts: int) -> np.ndarray:
        """Centroid of each foreground part in pixel coordinates.

        Args:
            part_map: Int ``[h, w]`` map, ``num_parts`` = background.
            shape (Sequence[int]): Image size ``(H, W)``.
            num_parts (int): Number of foreground parts ``K``.

        Returns:
            np.ndarray: ``[K, 2]`` ``(x, y)`` centroids, NaN for a part
            with no token.

        Examples:
            >>> import numpy as np
            >>> # 2x2 tokens on 4x4 pixels: centres at 1 and 3.
            >>> part_map = np.array([[0, 0], [1, 2]])  # 2 = background
            >>> KeypointRegression.part_centroids(part_map, (4, 4), 2)
            array([[2., 1.],
                   [1., 3.]])
        """
        part_map = np.asarray(part_map, dtype=np.int64)
        h, w = part_map.shape
        if part_map.min() < 0 or part_map.max() > num_parts:
            raise ValueError(
                f'pred_part_map values must lie in [0, {num_parts}] '
                f'(num_parts={num_parts} is the background), got '
                f'[{part_map.min()}, {part_map.max()}].')
        rows, cols = np.mgrid[0:h, 0:w]
        labels = part_map.ravel()
        tokens = np.bincount(labels, minlength=num_parts + 1)[:num_parts]

        def mean_over_part(coord: np.ndarray) -> np.ndarray:
            total = np.bincount(
                labels, weights=coord.ravel(), minlength=num_parts + 1)
            return total[:num_parts] / tokens

        # 0 / 0 = NaN marks an absent part, on purpose.
        with np.errstate(invalid='ignore'):
            x = mean_over_part(cols + 0.5) * shape[1] / w
            y = mean_over_part(rows + 0.5) * shape[0] / h
        return np.stack([x, y], axis=1)

    @staticmethod
    def calculate(centroids: np.ndarray,
                  keypoints: np.ndarray,
                  visible: np.ndarray,
                  fit: Optional[np.ndarray] = None,
                  num_folds: int = 5) -> Dict[str, float]:
        """Regress keypoints on centroids and measure the error.

        Args:
            centroids (np.ndarray): ``[N, K, 2]`` normalised centroids, NaN
                where a part is absent.
            keypoints (np.ndarray): ``[N, P, 2]`` normalised keypoints.
            visible (np.ndarray): Bool ``[N, P]``.
            fit (np.ndarray, optional): Bool ``[N]``, True = fit image,
                False = evaluated image. Defaults to None: cross-validation
                with ``num_folds`` folds by position.
            num_folds (int): See the class docstring. Defaults to 5.

        Returns:
            Dict[str, float]: ``mean_error`` (100 x normalised units).
        """
        features = np.asarray(centroids, dtype=np.float64)
        features = features.reshape(len(features), -1)
        keypoints = np.asarray(keypoints, dtype=np.float64)
        visible = np.asarray(visible, dtype=bool)
        num = len(features)
        if fit is not None:
            fit = np.asarray(fit, dtype=bool)
            splits = [(fit, ~fit)]
        else:
            fold = np.arange(num) % num_folds
            splits = [(fold != f, fold == f) for f in range(num_folds)]

        errors, unfit = [], np.zeros(keypoints.shape[1], dtype=bool)
        for fit_rows, eval_rows in splits:
            pred, fitted = _fit_predict(features[fit_rows],
                                        keypoints[fit_rows], visible[fit_rows],
                                        features[eval_rows])
            scored = visible[eval_rows] & fitted
            unfit |= (visible[eval_rows] & ~fitted).any(axis=0)
            distance = np.linalg.norm(pred - keypoints[eval_rows], axis=-1)
            errors.append(distance[scored])
        if unfit.any():
            warn('KeypointRegression: keypoints '
                 f'{np.flatnonzero(unfit).tolist()} have no visible instance '
                 'to fit on in some split; their instances there are left '
                 'out.')
        errors = np.concatenate(errors)
        if errors.size == 0:
            warn('KeypointRegression: no visible keypoint could be '
                 'evaluated; mean_error is NaN.')
            return dict(mean_error=float('nan'))
        return dict(mean_error=float(100. * errors.mean()))


def _fit_predict(fit_x: np.ndarray, fit_y: np.ndarray, fit_visible: np.ndarray,
                 eval_x: np.ndarray) -> tuple:
    """Fit one affine regressor per keypoint and predict the evaluated rows.

    Returns:
        tuple: Predictions ``[M, P, 2]`` and bool ``[P]``, whether keypoint
        ``p`` had any visible fit instance (its predictions are 0 if not).
    """
    present = ~np.isnan(fit_x)
    # Mean of each coordinate where the part is present; 0 if never.
    fill = np.where(present, fit_x, 0).sum(axis=0) / np.maximum(
        present.sum(axis=0), 1)
    fit_x = np.where(present, fit_x, fill)
    eval_x = np.where(np.isnan(eval_x), fill, eval_x)
    fit_design = np.concatenate([fit_x, np.ones((len(fit_x), 1))], axis=1)
    eval_design = np.concatenate([eval_x, np.ones((len(eval_x), 1))], axis=1)

    num_keypoints = fit_y.shape[1]
    pred = np.zeros((len(eval_x), num_keypoints, 2))
    fitted = fit_visible.any(axis=0)
    for p in np.flatnonzero(fitted):
        rows = fit_visible[:, p]
        # lstsq returns the minimum-norm solution when there are fewer
        # images than features, so a tiny fold still gives a prediction.
        coef = np.linalg.lstsq(fit_design[rows], fit_y[rows, p], rcond=None)[0]
        pred[:, p] = eval_design @ coef
    return pred, fitted
