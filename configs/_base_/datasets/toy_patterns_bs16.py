# Toy pattern-classification set written by
# `ifam_mm.testing.make_toy_classification_set` (CustomDataset folder layout:
# <data_root>/{train,val}/<class>/*.png).
dataset_type = 'CustomDataset'
data_root = 'data/toy'
img_size = 56

data_preprocessor = dict(
    num_classes=3,
    # ImageNet RGB normalisation.
    mean=[123.675, 116.28, 103.53],
    std=[58.395, 57.12, 57.375],
    # LoadImageWithChecks reads BGR.
    to_rgb=True,
)

train_pipeline = [
    dict(type='LoadImageWithChecks'),
    # HardMaskViT only accepts its configured img_size.
    dict(type='Resize', scale=(img_size, img_size)),
    dict(type='RandomFlip', prob=0.5, direction='horizontal'),
    dict(type='PackInputs'),
]

test_pipeline = [
    dict(type='LoadImageWithChecks'),
    dict(type='Resize', scale=(img_size, img_size)),
    dict(type='PackInputs'),
]

# num_workers=0: the images are tiny, and worker start-up costs more than it
# saves on 2-core CI machines (tools/train.py then leaves persistent_workers
# off).
train_dataloader = dict(
    batch_size=16,
    num_workers=0,
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        data_prefix='train',
        pipeline=train_pipeline),
    sampler=dict(type='DefaultSampler', shuffle=True),
)

val_dataloader = dict(
    batch_size=16,
    num_workers=0,
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        data_prefix='val',
        pipeline=test_pipeline),
    sampler=dict(type='DefaultSampler', shuffle=False),
)
val_evaluator = dict(type='Accuracy', topk=(1, ))

test_dataloader = val_dataloader
test_evaluator = val_evaluator
