# Copyright (c) ifam_mm contributors. All rights reserved.
"""A stock MMPretrain config uses ifam_mm components after one added line."""
import torch
from mmengine.config import Config

from mmpretrain.registry import MODELS
from mmpretrain.structures import DataSample

CHILD = """
_base_ = ['mmpretrain::deit/deit-tiny_4xb256_in1k.py']
custom_imports = dict(imports=['ifam_mm'], allow_failed_imports=False)
model = dict(
    backbone=dict(_delete_=True, type='HardMaskViT',
                  arch='vit_small_patch14_reg4_dinov2', img_size=56,
                  embed_dim=64, depth=2, num_heads=2),
    head=dict(num_classes=3, in_channels=64))
data_preprocessor = dict(num_classes=3)
"""


def test_deit_config_trains_with_hard_mask_vit(tmp_path):
    path = tmp_path / 'deit_hardmask.py'
    path.write_text(CHILD)
    cfg = Config.fromfile(str(path))  # imports ifam_mm via custom_imports
    # What the Runner does with the top-level data_preprocessor.
    cfg.model.setdefault('data_preprocessor', cfg.data_preprocessor)
    model = MODELS.build(cfg.model)
    model.init_weights()
    assert type(model.backbone).__name__ == 'HardMaskViT'
    images = torch.rand(2, 3, 56, 56) * 255
    samples = [DataSample().set_gt_label(i) for i in (0, 2)]
    data = model.data_preprocessor(
        dict(inputs=list(images), data_samples=samples), training=True)
    losses = model(**data, mode='loss')
    assert torch.isfinite(losses['loss'])
    losses['loss'].backward()
    assert model.backbone.vit.blocks[0].attn.qkv.weight.grad is not None
