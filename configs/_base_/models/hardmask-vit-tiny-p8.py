# A toy-sized HardMaskViT: DINOv2-with-registers layout (4 register tokens,
# LayerScale) shrunk to 64-d, 2 layers, 56 px input and 8 px patches
# (7x7 grid), small enough to train on a CPU in seconds.
model = dict(
    type='ImageClassifier',
    backbone=dict(
        type='HardMaskViT',
        arch='vit_small_patch14_reg4_dinov2',
        img_size=56,
        # timm overrides of the arch defaults.
        patch_size=8,
        embed_dim=64,
        depth=2,
        num_heads=2,
    ),
    neck=None,
    head=dict(
        type='LinearClsHead',
        num_classes=3,
        in_channels=64,
        loss=dict(type='CrossEntropyLoss', loss_weight=1.0),
        topk=(1, ),
    ),
)
