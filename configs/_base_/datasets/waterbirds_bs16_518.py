# Waterbirds (waterbird_complete95_forest2water2) at 518 px with the
# reference's `cub_original` augmentation (docs/method.md "Training recipe").
# The official validation split (metadata split 1) selects checkpoints; `test`
# is reported once. Groups are 2 * bird + place.
dataset_type = 'Waterbirds'
data_root = 'data/waterbird_complete95_forest2water2'
img_size = 518

data_preprocessor = dict(
    num_classes=2,
    mean=[123.675, 116.28, 103.53],
    std=[58.395, 57.12, 57.375],
    to_rgb=True,
)

# As configs/_base_/datasets/cub_bs16_518.py (the reference uses the same
# pipeline); the Planckian jitter is not reproduced.
train_pipeline = [
    dict(type='LoadImageWithChecks'),
    dict(
        type='ResizeEdge',
        scale=img_size,
        edge='short',
        backend='pillow',
        interpolation='bilinear'),
    dict(type='RandomFlip', prob=0.5, direction='horizontal'),
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

# GroupAccuracy reads group_label; spurious_label (the place) serves
# MaskLeakMetric and analyses.
test_pipeline = [
    dict(type='LoadImageWithChecks'),
    dict(
        type='ResizeEdge',
        scale=img_size,
        edge='short',
        backend='pillow',
        interpolation='bilinear'),
    dict(type='CenterCrop', crop_size=img_size),
    dict(type='PackInputs', algorithm_keys=('group_label', 'spurious_label')),
]

train_dataloader = dict(
    batch_size=16,
    num_workers=4,
    persistent_workers=True,
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
# The dataset's metainfo gives GroupAccuracy the training group counts and
# the minority groups, so it reports the weighted average accuracy and the
# reference's 2-group "worst" too.
val_evaluator = [dict(type='Accuracy', topk=(1, )), dict(type='GroupAccuracy')]

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
