# iFAM on SpuriousShapes, the paper's recipe at toy scale: stage 1 is the
# pretrained tiny ViT, frozen (the paper freezes DINOv2), with K = 8 parts;
# stage 2 is an independent copy of the same pretrained ViT, fine-tuned,
# whose attention cannot read the tokens stage 1 calls background. The
# stage-2 mask is detached from stage 1 (mask_grad='none'): with the
# straight-through gradient stage 2 re-teaches stage 1 the shortcut
# (measured in docs/demo.md). Same ViT and weights as the ERM base.
tiny_vit = dict(
    type='HardMaskViT',
    arch='vit_small_patch14_reg4_dinov2',
    img_size=64,
    patch_size=8,
    embed_dim=64,
    depth=4,
    num_heads=2,
    pretrained='checkpoints/vit-tiny-p8_spurious-shapes-token-labels.pth')

model = dict(
    type='IFAMClassifier',
    backbone=dict(**tiny_vit, frozen=True),
    stage2_backbone=dict(**tiny_vit, mask_grad='none'),
    part_head=dict(
        type='PDiscoFormerHead',
        num_classes=2,
        in_channels=64,
        num_parts=8,
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
        num_classes=2,
        in_channels=64,
        loss=dict(type='CrossEntropyLoss', loss_weight=1.0)),
    equivariance=dict(type='EquivarianceLoss', loss_weight=1.0),
    train_cfg=dict(mask_sample='shared', mask_part_dropout=0.3),
    test_cfg=dict(predict_stage='stage2', remove_parts=[]),
)
