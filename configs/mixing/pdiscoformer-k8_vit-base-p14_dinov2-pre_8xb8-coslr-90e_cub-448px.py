# Mixing example: ifam_mm's PDiscoFormerHead (iFAM's stage 1 alone, the
# PDiscoFormer late-masking model) on MMPretrain's *own* DINOv2 ViT-B/14
# (`VisionTransformer`, no register tokens), in MMPretrain's stock
# `ImageClassifier`, on MMPretrain's stock CUB dataset config (448 px,
# 8 x 8 images), with the iFAM optimizer recipe.
#
# Frequently modified parameters:
#   pretrained          MMPretrain's converted DINOv2 ViT-B/14 checkpoint
#                       (vit-base-p14_dinov2-pre_3rdparty_20230426-ba246503.pth
#                       from MMPretrain's model zoo, configs/dinov2/README.md)
#   num_parts           K
#   model.backbone.frozen_stages      12 = the whole ViT frozen; -1 = none
#   num_gpus, batch_per_gpu, num_train_images, max_epochs
#                       learning rate and weight decay are computed below
_base_ = [
    'mmpretrain::_base_/datasets/cub_bs8_448.py',
    'mmpretrain::_base_/default_runtime.py',
    '../_base_/schedules/ifam_adamw-coslr-90e.py',
]

# The one line a stock config needs to use ifam_mm's modules.
custom_imports = dict(imports=['ifam_mm'], allow_failed_imports=False)

pretrained = ('checkpoints/'
              'vit-base-p14_dinov2-pre_3rdparty_20230426-ba246503.pth')
num_classes = 200
num_parts = 8

# MMPretrain's DINOv2 ViT-B/14 (as in its configs/dinov2/
# vit-base-p14_dinov2-pre_headless.py, which cannot be a _base_ next to a
# dataset config: both define data_preprocessor).
model = dict(
    type='ImageClassifier',
    backbone=dict(
        type='VisionTransformer',
        arch='base',
        patch_size=14,
        layer_scale_init_value=1e-5,
        img_size=448,
        # The head reads the patch-token map [B, D, h, w].
        out_type='featmap',
        # MMPretrain's ViT freezes its CLS token and position embedding
        # with the blocks; the paper keeps those two trainable, which
        # HardMaskViT(frozen=True) reproduces (see the iFAM configs).
        frozen_stages=12,
        init_cfg=dict(
            type='Pretrained', checkpoint=pretrained, prefix='backbone.')),
    head=dict(
        type='PDiscoFormerHead',
        num_classes=num_classes,
        in_channels=768,
        num_parts=num_parts),
    neck=None,
)
data_preprocessor = dict(num_classes=num_classes)

# The iFAM schedule's parameter groups mostly apply as they are ('.cls_token'
# and '.pos_embed' match MMPretrain's `backbone.cls_token` and
# `backbone.pos_embed`), but in an ImageClassifier the head is called `head`,
# not `part_head`: the PDiscoFormer keys are restated for that name (the
# `part_head.*` and stage-2 `head.fc*` keys then match nothing, harmlessly).
# Learning rate and "normalized weight decay" as in the iFAM CUB config.
num_gpus = 8
batch_per_gpu = 8
total_batch = num_gpus * batch_per_gpu
lr = 1e-6 * (total_batch / 16)**0.5
# MMPretrain's `CUB` trains on all 5994 official training images.
num_train_images = 5994
max_epochs = 90
iters_per_epoch = num_train_images // total_batch
weight_decay = 0.05 * (1 / (iters_per_epoch * max_epochs))**0.5
optim_wrapper = dict(
    optimizer=dict(lr=lr, weight_decay=weight_decay),
    paramwise_cfg=dict(
        custom_keys={
            'head.prototypes': dict(lr_mult=1e3, decay_mult=0.0),
            'head.modulation': dict(lr_mult=1e4, decay_mult=0.0),
            'head.classifier': dict(lr_mult=1e4),
        }))
auto_scale_lr = dict(base_batch_size=total_batch)

# No save_best: MMPretrain's stock CUB config validates on the test split,
# so a "best" checkpoint would be selected on test. The iFAM configs use
# ifam_mm's CUB200 loader, which holds out a validation split.

# ifam_mm's checkpoint hook (CheckpointHook's arguments): a kill while it
# saves never costs the last checkpoint (docs/reliability.md).
default_hooks = dict(checkpoint=dict(type='AtomicCheckpointHook'))
