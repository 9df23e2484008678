# Copyright (c) ifam_mm contributors. All rights reserved.
from .masked_cls_head import MaskedClsHead
from .pdiscoformer_head import PartOutputs, PDiscoFormerHead
from .token_label_head import TokenLabelHead

__all__ = [
    'MaskedClsHead', 'PartOutputs', 'PDiscoFormerHead', 'TokenLabelHead'
]
