# Copyright (c) ifam_mm contributors. All rights reserved.
"""Does the stage-1 token mask encode the spurious attribute?"""
from itertools import combinations
from typing import Dict, Optional, Sequence

import numpy as np
import torch
from mmengine.evaluator import BaseMetric

from mmpretrain.registry import METRICS
from .part_quality.grid import pixel_to_token
from .utils import add_name_aliases, as_int, get_field, warn


@METRICS.register_module()
class MaskLeakMetric(BaseMetric):
    """Diagnostics for a token mask that depends on the spurious attribute.

    Stage 2 sees only the tokens its mask keeps, so a mask whose *size*
    depends on the background (keeps water patches, or keeps nothing on
    land) hands the spurious attribute to stage 2 even when every kept
    token is on the object. Each data sample carries the model's
    ``pred_token_mask`` (bool [h, w] or [N] over patch tokens, True = kept;
    a float mask is kept where > 0.5) and the dataset's integer
    ``spurious_label``.
    Keys (``mask_leak/`` prefix by default):

    - ``kept_frac_<a>``: mean over samples with attribute ``a`` of the
      fraction of tokens kept, in [0, 1].
    - ``empty_rate_<a>``: fraction of those samples whose mask keeps no
      token, in [0, 1].
    - ``kept_ratio``: largest over smallest ``kept_frac_<a>`` (``inf`` if
      the smallest is 0, NaN if all are 0).
    - ``attr_bacc``: how well the kept fraction alone predicts the
      attribute: the balanced accuracy (percent) of the best single
      threshold on it, for the most separable pair of attribute values.
      This equals ``50 * (1 + KS)`` with KS the two-sample
      Kolmogorov-Smirnov statistic; 50 means no signal. It is measured on
      the evaluated samples themselves, so it is an upper bound, and it
      sees only mask size, not which tokens are kept. NaN (with a warning)
      with fewer than two attribute values.
    - ``leak_flag``: 1.0 if ``kept_ratio > ratio_threshold`` or any
      ``empty_rate_<a> > empty_threshold``, else 0.0; a warning is logged
      when it is raised.

    With ``spurious_names`` in ``dataset_meta``, the per-value keys also
    come as ``kept_frac_<name>`` and ``empty_rate_<name>``.

    Where the samples also carry pixel masks of the cue and of the object
    (SpuriousShapes packs ``gt_cue_mask`` and ``gt_fg_mask``), two
    token-level keys say *which* tokens the mask keeps; a token counts as
    a cue (object) token if any of its pixels is one:

    - ``cue_kept``: fraction of all cue tokens that are kept, in [0, 1].
      For a co-occurring-object cue this is how much of the cue stage 2
      can read; for a background cue, how much background it reads.
    - ``fg_kept``: fraction of all object tokens that are kept, in [0, 1].

    Args:
        ratio_threshold (float): Kept-fraction ratio above which the mask is
            flagged. Defaults to 2.0.
        empty_threshold (float): Empty-mask rate (a fraction) above which
            the mask is flagged. Defaults to 0.10.
        cue_key (str): Pixel mask field of the cue, for ``cue_kept``.
            Defaults to ``'gt_cue_mask'``.
        fg_key (str): Pixel mask field of the object, for ``fg_kept``.
            Defaults to ``'gt_fg_mask'``.
        collect_device (str): Device for gathering results across ranks,
            ``'cpu'`` or ``'gpu'``. Defaults to ``'cpu'``.
        prefix (str, optional): Key prefix. Defaults to None, which uses
            ``default_prefix = 'mask_leak'``.

    Examples:
        >>> from ifam_mm.evaluation import MaskLeakMetric
        >>> # Water images (attribute 1) keep more tokens than land ones.
        >>> kept = [0.25, 0.25, 0.5, 0.5, 0.5, 0.5, 0.75, 0.75]
        >>> attrs = [0, 0, 0, 0, 1, 1, 1, 1]
        >>> for key, value in MaskLeakMetric.calculate(kept, attrs).items():
        ...     print(key, round(value, 3))
        kept_frac_0 0.375
        kept_frac_1 0.625
        empty_rate_0 0.0
        empty_rate_1 0.0
        kept_ratio 1.667
        attr_bacc 75.0
        leak_flag 0.0
    """
    default_prefix: Optional[str] = 'mask_leak'

    def __init__(self,
                 ratio_threshold: float = 2.0,
                 empty_threshold: float = 0.10,
                 cue_key: str = 'gt_cue_mask',
                 fg_key: str = 'gt_fg_mask',
                 collect_device: str = 'cpu',
                 prefix: Optional[str] = None) -> None:
        super().__init__(collect_device=collect_device, prefix=prefix)
        self.ratio_threshold = ratio_threshold
        self.empty_threshold = empty_threshold
        self.coverage_keys = dict(cue=cue_key, fg=fg_key)

    def process(self, data_batch, data_samples: Sequence[dict]) -> None:
        """Record the kept fraction and attribute of each sample.

        One record per sample (never per batch): ``collect_results`` drops
        the sampler's padding by counting records.

        Args:
            data_batch: A batch of data from the dataloader (unused).
            data_samples (Sequence[dict]): Model outputs as dicts.
        """
        for sample in data_samples:
            mask = torch.as_tensor(get_field(
                sample, 'pred_token_mask', 'MaskLeakMetric', from_model=True))
            kept = mask > 0.5 if mask.is_floating_point() else mask.bool()
            record = dict(
                kept_frac=float(kept.float().mean()),
                spurious_label=as_int(
                    get_field(sample, 'spurious_label', 'MaskLeakMetric'),
                    'spurious_label'))
            for name, key in self.coverage_keys.items():
                if key in sample and kept.dim() == 2:
                    tokens = _touched_tokens(sample[key], kept.shape)
                    record[name] = (int(tokens.sum()),
                                    int((tokens & kept.cpu()).sum()))
            self.results.append(record)

    def compute_metrics(self, results: list) -> Dict[str, float]:
        """Compute the metrics from the gathered records.

        Args:
            results (list): Records from :meth:`process` of all ranks.

        Returns:
            Dict[str, float]: The keys described in the class docstring.
        """
        attrs = [r['spurious_label'] for r in results]
        metrics = self.calculate([r['kept_frac'] for r in results], attrs,
                                 self.ratio_threshold, self.empty_threshold)
        names = (self.dataset_meta or {}).get('spurious_names')
        for stem in ('kept_frac', 'empty_rate'):
            add_name_aliases(metrics, stem, sorted(set(attrs)), names)
        for name in self.coverage_keys:
            counts = [r[name] for r in results if name in r]
            if len(counts) == len(results):
                total, kept = np.sum(counts, axis=0)
                metrics[f'{name}_kept'] = (
                    float(kept / total) if total else float('nan'))
        return metrics

    @staticmethod
    def calculate(kept_frac: Sequence[float],
                  attrs: Sequence[int],
                  ratio_threshold: float = 2.0,
                  empty_threshold: float = 0.10) -> Dict[str, float]:
        """Mask-leak diagnostics from per-sample kept fractions.

        Args:
            kept_frac (Sequence[float]): Fraction of tokens kept [N].
            attrs (Sequence[int]): Spurious attribute of each sample [N].
            ratio_threshold (float): See the class docstring.
                Defaults to 2.0.
            empty_threshold (float): See the class docstring.
                Defaults to 0.10.

        Returns:
            Dict[str, float]: The keys described in the class docstring
            (id keys only).
        """
        kept_frac = np.asarray(kept_frac, dtype=np.float64).reshape(-1)
        attrs = np.asarray(attrs).reshape(-1)
        if not len(kept_frac) == len(attrs) > 0:
            raise ValueError('kept_frac and attrs must have the same '
                             f'non-zero length, got {len(kept_frac)} and '
                             f'{len(attrs)}.')
        by_attr = {int(a): kept_frac[attrs == a] for a in np.unique(attrs)}
        kept = {a: float(f.mean()) for a, f in by_attr.items()}
        empty = {a: float((f == 0).mean()) for a, f in by_attr.items()}
        metrics = {f'kept_frac_{a}': v for a, v in kept.items()}
        metrics.update({f'empty_rate_{a}': v for a, v in empty.items()})

        with np.errstate(divide='ignore', invalid='ignore'):
            ratio = float(np.divide(max(kept.values()), min(kept.values())))
        metrics['kept_ratio'] = ratio
        if len(by_attr) < 2:
            warn('MaskLeakMetric: attr_bacc needs two attribute values, got '
                 f'only {list(by_attr)}; reporting NaN.')
            metrics['attr_bacc'] = float('nan')
        else:
            metrics['attr_bacc'] = 50. * (1 + max(
                _ks_statistic(by_attr[a], by_attr[b])
                for a, b in combinations(by_attr, 2)))

        worst_empty = max(empty.values())
        flagged = ratio > ratio_threshold or worst_empty > empty_threshold
        if flagged:
            warn(f'MaskLeakMetric: the token mask may encode the spurious '
                 f'attribute: kept fraction ratio {ratio:.2f} (threshold '
                 f'{ratio_threshold}), worst empty-mask rate '
                 f'{worst_empty:.2f} (threshold {empty_threshold}).')
        metrics['leak_flag'] = float(flagged)
        return metrics


def _touched_tokens(pixels, grid: Sequence[int]) -> torch.Tensor:
    """[h, w] bool: tokens with at least one set pixel.

    Pixel row ``r`` of ``H`` belongs to token row ``floor(r * h / H)``
    (likewise for columns), the convention of the part-quality metrics
    (``part_quality/grid.py``): exactly the ViT patch when ``H`` is a
    multiple of ``h``, and every pixel counted when it is not.
    """
    pixels = np.asarray(pixels).astype(bool)
    (height, width), (h, w) = pixels.shape, grid
    token = (pixel_to_token(height, h)[:, None] * w +
             pixel_to_token(width, w)[None, :])
    touched = np.bincount(
        token.ravel(), weights=pixels.ravel(), minlength=h * w) > 0
    return torch.from_numpy(touched.reshape(h, w))


def _ks_statistic(a: np.ndarray, b: np.ndarray) -> float:
    """Largest gap between the empirical CDFs of two samples.

    Thresholding at a value ``t`` has balanced accuracy
    ``(1 + |F_a(t) - F_b(t)|) / 2`` for the better of its two directions,
    so the best threshold reaches ``(1 + KS) / 2``.
    """
    grid = np.union1d(a, b)
    cdf_a = np.searchsorted(np.sort(a), grid, side='right') / len(a)
    cdf_b = np.searchsorted(np.sort(b), grid, side='right') / len(b)
    return float(np.abs(cdf_a - cdf_b).max())
