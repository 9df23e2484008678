# Copyright (c) ifam_mm contributors. All rights reserved.
"""Stage-2 classification head on the CLS token."""
from typing import List, Optional, Tuple

import torch
from torch import nn

from mmpretrain.models.heads import ClsHead
from mmpretrain.registry import MODELS
from mmpretrain.structures import DataSample


@MODELS.register_module()
class MaskedClsHead(ClsHead):
    """Fresh LayerNorm then a bias-free linear layer on the CLS token.

    The backbone already applies its pretrained final norm; this head adds a
    new ``fc_norm`` and a linear classifier without bias (docs/method.md "Stage
    2: the hard-masked ViT"). The loss is logged as ``loss_cls`` (not
    mmpretrain's bare ``loss``, which would hide the total in the logs when
    other terms are present).

    Args:
        num_classes (int): Number of classes.
        in_channels (int): CLS token width.
        init_cfg (dict, optional): Defaults to trunc-normal (std 0.02) on
            the linear layer.
        **kwargs: Passed to mmpretrain's ``ClsHead`` (``loss``, ``topk``,
            ``cal_acc``).
    """

    def __init__(self,
                 num_classes: int,
                 in_channels: int,
                 init_cfg: Optional[dict] = dict(
                     type='TruncNormal', layer='Linear', std=0.02),
                 **kwargs) -> None:
        super().__init__(init_cfg=init_cfg, **kwargs)
        self.fc_norm = nn.LayerNorm(in_channels)
        self.fc = nn.Linear(in_channels, num_classes, bias=False)

    def pre_logits(self, feats: Tuple[torch.Tensor]) -> torch.Tensor:
        return self.fc_norm(feats[-1])

    def forward(self, feats: Tuple[torch.Tensor]) -> torch.Tensor:
        return self.fc(self.pre_logits(feats))

    def loss(self, feats: Tuple[torch.Tensor],
             data_samples: List[DataSample], **kwargs) -> dict:
        losses = super().loss(feats, data_samples, **kwargs)
        losses['loss_cls'] = losses.pop('loss')
        return losses
