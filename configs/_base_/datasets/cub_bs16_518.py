# CUB-200-2011 at 518 px (37 x 37 patches of 14 px) with the reference's
# `cub_original` augmentation (docs/method.md "Training recipe"). The ifam_mm
# loader splits the official training images into `train` and a held-out `val`
# (10 % of each class) for model selection; `test` is reported once.
dataset_type = 'CUB200'
data_root = 'data/CUB_200_2011'
img_size = 518

data_preprocessor = dict(
    num_classes=200,
    # ImageNet RGB statistics (DINOv2's).
    mean=[123.675, 116.28, 103.53],
    std=[58.395, 57.12, 57.375],
    # LoadImageWithChecks reads BGR.
    to_rgb=True,
)

# The reference's order: shorter side to img_size, flip, a random affine
# with zero fill (rotation +-90 deg, shift 20 %, scale 0.8-1.2), then a
# random img_size crop. Its `ColorJitter()` has no arguments and does
# nothing, so it is left out. Its Planckian (black-body illuminant) jitter
# (p = 0.8) has no MMPretrain/torchvision counterpart and is not reproduced.
train_pipeline = [
    dict(type='LoadImageWithChecks'),
    dict(
        type='ResizeEdge',
        scale=img_size,
        edge='short',
        backend='pillow',
        interpolation='bilinear'),
    dict(type='RandomFlip', prob=0.5, direction='horizontal'),
    # torchvision's RandomAffine works on PIL images.
    dict(type='NumpyToPIL', to_rgb=True),
    dict(
        type='torchvision/RandomAffine',
        degrees=90,
        translate=(0.2, 0.2),
        scale=(0.8, 1.2),
        fill=0),
    dict(type='PILToNumpy', to_bgr=True),
    dict(type='RandomCrop', crop_size=img_size),
    dict(type='PackInputs'),
]

# HardMaskViT accepts only its configured img_size, hence the crop.
test_pipeline = [
    dict(type='LoadImageWithChecks'),
    dict(
        type='ResizeEdge',
        scale=img_size,
        edge='short',
        backend='pillow',
        interpolation='bilinear'),
    dict(type='CenterCrop', crop_size=img_size),
    dict(type='PackInputs'),
]

train_dataloader = dict(
    batch_size=16,
    num_workers=4,
    persistent_workers=True,
    # The reference drops the last incomplete batch; the normalized weight
    # decay counts floor(images / batch) iterations per epoch.
    drop_last=True,
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        split='train',
        pipeline=train_pipeline),
    sampler=dict(type='DefaultSampler', shuffle=True),
)

val_dataloader = dict(
    batch_size=16,
    num_workers=4,
    persistent_workers=True,
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        split='val',
        pipeline=test_pipeline),
    sampler=dict(type='DefaultSampler', shuffle=False),
)
val_evaluator = dict(type='Accuracy', topk=(1, ))

test_dataloader = dict(
    batch_size=16,
    num_workers=4,
    persistent_workers=True,
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        split='test',
        pipeline=test_pipeline),
    sampler=dict(type='DefaultSampler', shuffle=False),
)
test_evaluator = val_evaluator
