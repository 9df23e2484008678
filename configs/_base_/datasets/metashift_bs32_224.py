# MetaShift cat vs dog (the DISC MetaDatasetCatDog folder) at 224 px
# (16 x 16 patches of 14 px) with the reference's `cub_original`
# augmentation. `val` is 10 % of each class held out from the training
# folder; the test folder has one unseen context per class (shelf).
dataset_type = 'MetaShift'
data_root = 'data/MetaDatasetCatDog'
img_size = 224

data_preprocessor = dict(
    num_classes=2,
    mean=[123.675, 116.28, 103.53],
    std=[58.395, 57.12, 57.375],
    to_rgb=True,
)

# As configs/_base_/datasets/cub_bs16_518.py; the Planckian jitter is not
# reproduced.
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
    batch_size=32,
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
    batch_size=32,
    num_workers=4,
    persistent_workers=True,
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        split='val',
        pipeline=test_pipeline),
    sampler=dict(type='DefaultSampler', shuffle=False),
)
# group_by='class' (the loader's default) makes the group the class, the
# papers' definition: WGA = the worse of the cat and dog accuracies.
val_evaluator = [dict(type='Accuracy', topk=(1, )), dict(type='GroupAccuracy')]

test_dataloader = dict(
    batch_size=32,
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
