# ERM on SpuriousShapes: a stock mmpretrain ImageClassifier with the
# predictor every SpuriousShapes model shares, iFAM's stage 2 without a
# mask: the tiny ViT (DINOv2-with-registers layout shrunk to 64-d, 4 blocks,
# 2 heads; 8 px patches on 64 px images, an 8 x 8 grid) and MaskedClsHead.
# It starts from the backbone that
# configs/spurious_shapes/pretrain_vit-tiny-p8_2xb16_token-labels.py trains
# and tools/model_converters/extract_vit_weights.py extracts (tools/demo.py
# does both once): it plays DINOv2's role (docs/demo.md).
model = dict(
    type='ImageClassifier',
    backbone=dict(
        type='HardMaskViT',
        arch='vit_small_patch14_reg4_dinov2',
        img_size=64,
        patch_size=8,
        embed_dim=64,
        depth=4,
        num_heads=2,
        pretrained='checkpoints/vit-tiny-p8_spurious-shapes-token-labels.pth'),
    head=dict(
        type='MaskedClsHead',
        num_classes=2,
        in_channels=64,
        loss=dict(type='CrossEntropyLoss')))
