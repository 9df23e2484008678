# Copyright (c) ifam_mm contributors. All rights reserved.
"""Clear errors for an IFAMClassifier whose parts do not fit together.

Without these checks a head of the wrong width fails at the first batch
inside torch (an einsum or matmul shape error), and stages with different
class counts fail in mmpretrain's DataSample with an assertion.
"""
from typing import Optional, Union

from torch import nn


def _get(cfg: Union[dict, nn.Module, None], key: str):
    """A config value; None for a prebuilt module or a missing key."""
    return cfg.get(key) if isinstance(cfg, dict) else None


def check_stages_fit(backbone: nn.Module, part_head: Union[dict, nn.Module],
                     stage2_backbone: Optional[nn.Module],
                     head: Union[dict, nn.Module, None]) -> None:
    """Raise ValueError if a head's width differs from its backbone's token
    width, or the two stages' class counts differ.

    Args:
        backbone (nn.Module): The built stage-1 backbone.
        part_head (dict | nn.Module): The stage-1 head or its config.
        stage2_backbone (nn.Module, optional): The built stage-2 backbone.
        head (dict | nn.Module, optional): The stage-2 head or its config.
    """
    for name, vit, head_name, head_cfg in (
            ('backbone', backbone, 'part_head', part_head),
            ('stage2_backbone', stage2_backbone, 'head', head)):
        width = _get(head_cfg, 'in_channels')
        tokens = getattr(vit, 'embed_dims', None)
        if None not in (width, tokens) and width != tokens:
            raise ValueError(
                f'{head_name}.in_channels={width}, but {name} '
                f'({getattr(vit, "arch", type(vit).__name__)}) gives '
                f'{tokens}-d tokens. Set {head_name}.in_channels={tokens}.')
    classes = (_get(part_head, 'num_classes'), _get(head, 'num_classes'))
    if None not in classes and classes[0] != classes[1]:
        raise ValueError(
            f'part_head.num_classes={classes[0]} and head.num_classes='
            f'{classes[1]} differ, but both stages classify the same '
            "classes. Set both to the dataset's class count.")
