# Copyright (c) ifam_mm contributors. All rights reserved.
"""A dense pretext head: predict what each patch token shows."""
from typing import List, Optional, Sequence, Tuple

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from mmengine.model import BaseModule
from mmpretrain.registry import MODELS
from mmpretrain.structures import DataSample


@MODELS.register_module()
class TokenLabelHead(BaseModule):
    """Per-token classification of a pixel label map (pretraining pretext).

    Plays the role of a pretrained backbone's dense features when no hub
    weights can be downloaded: a ViT trained to tell, for every token, which
    object part (or other object, or background) it shows learns
    objectness and parts without ever seeing the downstream class labels.
    The pixel labels are ``label_key`` (part ids, 0 = background) and then
    one extra label per ``extra_mask_keys`` entry (bool masks, drawn over
    the parts). A token's target is its most frequent non-background label
    when that label covers at least ``min_fraction`` of the token, and
    background otherwise: thin parts (legs, tails) rarely fill half a patch,
    and a majority vote would teach the backbone that they are background.

    Args:
        in_channels (int): Token width of the ``featmap`` backbone output.
        num_parts (int): Largest part id in ``label_key``.
        label_key (str): Data-sample field of the [H, W] part-id map.
            Defaults to ``'gt_part_mask'``.
        extra_mask_keys (Sequence[str]): Bool [H, W] mask fields, each one
            more label. Defaults to ().
        min_fraction (float): Share of a token a non-background label needs
            to be the token's target. Defaults to 0.25.
        init_cfg (dict, optional): Defaults to None.
    """

    def __init__(self,
                 in_channels: int,
                 num_parts: int,
                 label_key: str = 'gt_part_mask',
                 extra_mask_keys: Sequence[str] = (),
                 min_fraction: float = 0.25,
                 init_cfg: Optional[dict] = None) -> None:
        super().__init__(init_cfg=init_cfg)
        self.num_parts = num_parts
        self.label_key = label_key
        self.extra_mask_keys = tuple(extra_mask_keys)
        self.min_fraction = min_fraction
        self.num_labels = num_parts + 1 + len(self.extra_mask_keys)
        self.norm = nn.LayerNorm(in_channels)
        self.fc = nn.Linear(in_channels, self.num_labels)

    def forward(self, feats: Tuple[torch.Tensor]) -> torch.Tensor:
        """Token logits [B, num_labels, h, w] from a [B, D, h, w] map."""
        tokens = feats[-1].permute(0, 2, 3, 1)
        return self.fc(self.norm(tokens)).permute(0, 3, 1, 2)

    def token_targets(self, data_samples: List[DataSample],
                      grid_size: Sequence[int]) -> torch.Tensor:
        """[B, h, w] long: each token's target label (see the class)."""
        labels = []
        for sample in data_samples:
            missing = [
                key for key in (self.label_key, ) + self.extra_mask_keys
                if key not in sample
            ]
            if missing:
                raise KeyError(f'TokenLabelHead reads {missing} from each '
                               'data sample; add them to PackInputs('
                               'algorithm_keys=...).')
            pixel = np.asarray(sample.get(self.label_key)).astype(np.int64)
            if pixel.max(initial=0) > self.num_parts:
                raise ValueError(
                    f'{self.label_key} holds part id {pixel.max()}, but '
                    f'num_parts={self.num_parts}; raise num_parts.')
            for index, key in enumerate(self.extra_mask_keys):
                pixel[np.asarray(sample.get(key), dtype=bool)] = (
                    self.num_parts + 1 + index)
            labels.append(torch.from_numpy(pixel))
        pixels = torch.stack(labels)
        one_hot = F.one_hot(pixels, self.num_labels).permute(0, 3, 1,
                                                             2).float()
        fractions = F.adaptive_avg_pool2d(one_hot, tuple(grid_size))
        share, label = fractions[:, 1:].max(1)
        return torch.where(share >= self.min_fraction, label + 1, 0)

    def loss(self, feats: Tuple[torch.Tensor],
             data_samples: List[DataSample]) -> dict:
        logits = self(feats)
        targets = self.token_targets(data_samples,
                                     logits.shape[-2:]).to(logits.device)
        return dict(loss_token=F.cross_entropy(logits, targets))

    def predict(self,
                feats: Tuple[torch.Tensor],
                data_samples: Optional[List[DataSample]] = None
                ) -> List[DataSample]:
        """Store ``pred_token_label`` ([h, w] long) on each sample."""
        labels = self(feats).argmax(1)
        if data_samples is None:
            data_samples = [DataSample() for _ in range(labels.shape[0])]
        for sample, label in zip(data_samples, labels):
            sample.set_field(label, 'pred_token_label')
        return data_samples
