# Copyright (c) ifam_mm contributors. All rights reserved.
"""A hard-masked ViT whose mask comes from the data, not from stage 1."""
from typing import List, Optional, Tuple

import numpy as np
import torch

from mmpretrain.models.classifiers import ImageClassifier
from mmpretrain.registry import MODELS
from mmpretrain.structures import DataSample
from ..backbones.hard_mask_vit import HardMaskViT
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
    Every mode needs the data samples (``model(inputs, data_samples,
    mode='tensor')`` too): without them there is no mask, which is an error,
    never a silent unmasked forward.

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
        if not isinstance(self.backbone, HardMaskViT):
            raise TypeError('EarlyMaskClassifier needs a HardMaskViT '
                            f'backbone, got {type(self.backbone).__name__}.')
        self.mask_key = mask_key
        self.token_threshold = token_threshold

    def forward(self,
                inputs: torch.Tensor,
                data_samples: Optional[List[DataSample]] = None,
                mode: str = 'tensor'):
        """``ImageClassifier.forward``, except that ``mode='tensor'`` also
        reads the data samples: they carry the mask."""
        if mode == 'tensor':
            feats = self.extract_feat(inputs, data_samples)
            return self.head(feats) if self.with_head else feats
        return super().forward(inputs, data_samples, mode)

    def token_mask(self, data_samples: Optional[List[DataSample]],
                   image_size: Tuple[int, int]) -> torch.Tensor:
        """[B, N] bool token mask from the samples' pixel masks."""
        if data_samples is None:
            raise ValueError(
                'EarlyMaskClassifier masks tokens with the pixel mask '
                f'{self.mask_key!r} of each data sample, and got no data '
                'samples (it will not classify the unmasked image instead). '
                'Pass them: model(inputs, data_samples, mode=...) or '
                'extract_feat(inputs, data_samples).')
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
        if tuple(pixels.shape[-2:]) != tuple(image_size):
            raise ValueError(
                f'EarlyMaskClassifier: the pixel masks {self.mask_key!r} are '
                f'{list(pixels.shape[-2:])}, the images {list(image_size)}; '
                'the mask must follow the image through every transform of '
                'the pipeline (resize and crop it with the image).')
        return pixel_to_token_mask(pixels, self.backbone.grid_size,
                                   self.token_threshold).flatten(1)

    def extract_feat(self,
                     inputs: torch.Tensor,
                     data_samples: Optional[List[DataSample]] = None,
                     stage: str = 'neck'):
        x = self.backbone(
            inputs,
            token_mask=self.token_mask(data_samples, inputs.shape[-2:]))
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
        return self.head.predict(
            self.extract_feat(inputs, data_samples), data_samples, **kwargs)
