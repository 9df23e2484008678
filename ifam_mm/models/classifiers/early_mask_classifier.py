# Copyright (c) ifam_mm contributors. All rights reserved.
"""A hard-masked ViT whose mask comes from the data, not from stage 1."""
from typing import List, Optional

import numpy as np
import torch

from mmpretrain.models.classifiers import ImageClassifier
from mmpretrain.registry import MODELS
from mmpretrain.structures import DataSample
from ..utils.part_mask import pixel_to_token_mask


@MODELS.register_module()
class EarlyMaskClassifier(ImageClassifier):
    """``ImageClassifier`` whose ``HardMaskViT`` sees only masked tokens.

    The "early mask (GT / saliency)" baseline of the paper and our
    ``oracle_mask`` upper bound: each data sample carries a pixel mask
    (``mask_key``, e.g. ``gt_fg_mask`` packed with
    ``PackInputs(algorithm_keys=(..., 'gt_fg_mask'))``); a token is kept iff
    at least ``token_threshold`` of its pixels are set. The mask must
    follow the image through every geometric transform of the pipeline.

    Args:
        mask_key (str): Data-sample field holding the [H, W] pixel mask.
            Defaults to ``'gt_fg_mask'``.
        token_threshold (float): Fraction of foreground pixels that keeps a
            token. Defaults to 0.5.
        **kwargs: ``ImageClassifier`` arguments (``backbone`` must be a
            ``HardMaskViT``, ``head``, ``data_preprocessor``, ...).
    """

    def __init__(self,
                 mask_key: str = 'gt_fg_mask',
                 token_threshold: float = 0.5,
                 **kwargs) -> None:
        super().__init__(**kwargs)
        if not hasattr(self.backbone, 'grid_size'):
            raise TypeError('EarlyMaskClassifier needs a HardMaskViT '
                            f'backbone, got {type(self.backbone).__name__}.')
        self.mask_key = mask_key
        self.token_threshold = token_threshold

    def token_mask(self, data_samples: List[DataSample]) -> torch.Tensor:
        """[B, N] bool token mask from the samples' pixel masks."""
        masks = []
        for sample in data_samples:
            if self.mask_key not in sample:
                raise KeyError(
                    'EarlyMaskClassifier reads the pixel mask '
                    f'{self.mask_key!r} from each data sample; add it to '
                    'PackInputs('
                    f"algorithm_keys=(..., '{self.mask_key}')). An image "
                    "without a dataset record (mmpretrain's "
                    'ImageClassificationInferencer, demo/image_demo.py) has '
                    'no such mask: run this model on its dataset '
                    '(tools/test.py), or use one that finds the mask itself '
                    '(IFAMClassifier).')
            masks.append(torch.as_tensor(np.asarray(sample.get(
                self.mask_key))))
        device = next(self.parameters()).device
        pixels = torch.stack(masks).to(device)
        return pixel_to_token_mask(pixels, self.backbone.grid_size,
                                   self.token_threshold).flatten(1)

    def extract_feat(self,
                     inputs: torch.Tensor,
                     data_samples: Optional[List[DataSample]] = None,
                     stage: str = 'neck'):
        mask = None if data_samples is None else self.token_mask(data_samples)
        x = self.backbone(inputs, token_mask=mask)
        if stage == 'backbone':
            return x
        if self.with_neck:
            x = self.neck(x)
        if stage == 'neck':
            return x
        return self.head.pre_logits(x)

    def loss(self, inputs: torch.Tensor,
             data_samples: List[DataSample]) -> dict:
        return self.head.loss(self.extract_feat(inputs, data_samples),
                              data_samples)

    def predict(self,
                inputs: torch.Tensor,
                data_samples: Optional[List[DataSample]] = None,
                **kwargs) -> List[DataSample]:
        if data_samples is None:
            raise ValueError('EarlyMaskClassifier needs data samples that '
                             f'carry {self.mask_key!r} to predict.')
        return self.head.predict(
            self.extract_feat(inputs, data_samples), data_samples, **kwargs)
