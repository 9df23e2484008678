# Mixing example: ifam_mm's HardMaskViT (DINOv2 ViT-B/14 with 4 registers,
# timm layout) as the backbone of MMPretrain's stock `ImageClassifier` with
# a stock `LinearClsHead`, on MMPretrain's stock CUB dataset config (448 px,
# 8 x 8 images) and stock CUB schedule (100 epochs, linear warm-up and
# cosine), the optimizer switched to AdamW for ViT fine-tuning. Without a
# token mask HardMaskViT is a plain ViT; a caller may pass
# `token_mask` [B, N] to hide patches from attention.
#
# Frequently modified parameters:
#   pretrained          local DINOv2-reg4 weights (configs/ifam/README.md)
#   optim_wrapper.optimizer.lr   base learning rate
#   train_dataloader.batch_size  images per GPU
_base_ = [
    'mmpretrain::_base_/datasets/cub_bs8_448.py',
    'mmpretrain::_base_/schedules/cub_bs64.py',
    'mmpretrain::_base_/default_runtime.py',
]

custom_imports = dict(imports=['ifam_mm'], allow_failed_imports=False)

pretrained = 'checkpoints/dinov2_vitb14_reg4_pretrain.pth'

model = dict(
    type='ImageClassifier',
    backbone=dict(
        type='HardMaskViT',
        arch='vit_base_patch14_reg4_dinov2',
        # The stock pipeline crops 448 px: a 32 x 32 grid of 14 px patches;
        # the position embedding is resampled when the weights load.
        img_size=448,
        pretrained=pretrained,
        out_type='cls_token'),
    neck=None,
    head=dict(
        type='LinearClsHead',
        num_classes=200,
        in_channels=768,
        loss=dict(type='CrossEntropyLoss', loss_weight=1.0),
        topk=(1, )),
)

# The stock schedule's SGD (lr 0.01) suits a ResNet; a pretrained ViT is
# fine-tuned with AdamW at a small rate, without decay on the tokens, norms
# and biases.
optim_wrapper = dict(
    optimizer=dict(
        _delete_=True, type='AdamW', lr=1e-5, weight_decay=0.05),
    paramwise_cfg=dict(
        flat_decay_mult=0.0,
        custom_keys={
            '.cls_token': dict(decay_mult=0.0),
            '.reg_token': dict(decay_mult=0.0),
            '.pos_embed': dict(decay_mult=0.0),
        }),
    clip_grad=dict(max_norm=2.0))

# No save_best: MMPretrain's stock CUB config validates on the test split,
# so a "best" checkpoint would be selected on test.

# ifam_mm's checkpoint hook (CheckpointHook's arguments): a kill while it
# saves never costs the last checkpoint (docs/reliability.md).
default_hooks = dict(checkpoint=dict(type='AtomicCheckpointHook'))
