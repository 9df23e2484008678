# A toy-sized iFAM for CPU tests, demos and smoke runs: both stages are
# DINOv2-with-registers ViTs (4 registers, LayerScale) shrunk to 64-d, 2
# layers, 56 px input and 8 px patches (a 7 x 7 grid), with K = 4 parts.
# Trained from random weights, so nothing is frozen (see the toy config).
tiny_vit = dict(
    type='HardMaskViT',
    arch='vit_small_patch14_reg4_dinov2',
    img_size=56,
    pretrained=None,
    # timm overrides of the arch defaults.
    patch_size=8,
    embed_dim=64,
    depth=2,
    num_heads=2)

model = dict(
    type='IFAMClassifier',
    backbone=dict(**tiny_vit, frozen=False),
    stage2_backbone=dict(**tiny_vit, frozen=False, mask_grad='none'),
    part_head=dict(
        type='PDiscoFormerHead',
        num_classes=3,
        in_channels=64,
        num_parts=4,
        part_dropout=0.3,
        temperature=1.0,
        loss_cls=dict(type='CrossEntropyLoss', loss_weight=1.0),
        shaping_losses=dict(
            presence=dict(type='PresenceLoss', loss_weight=1.0),
            background=dict(type='BackgroundBorderLoss', loss_weight=2.0),
            total_variation=dict(type='TotalVariationLoss', loss_weight=1.0),
            entropy=dict(type='PixelEntropyLoss', loss_weight=1.0),
            orthogonality=dict(
                type='PartOrthogonalityLoss', mode='parts',
                loss_weight=1.0))),
    head=dict(
        type='MaskedClsHead',
        num_classes=3,
        in_channels=64,
        loss=dict(type='CrossEntropyLoss', loss_weight=1.0)),
    equivariance=dict(type='EquivarianceLoss', loss_weight=1.0),
    train_cfg=dict(mask_sample='shared', mask_part_dropout=0.3),
    test_cfg=dict(predict_stage='stage2', remove_parts=[]),
)
