# SIIM-ACR pneumothorax, prepared by
# tools/dataset_converters/prepare_siim_acr.py
# (docs/datasets.md), at 518 px with the reference's `siim_acr` pipeline:
# grey to 3 channels, a 518 x 518 resize (a warp, not a crop), a horizontal
# flip in training. `val` is 10 % of each class held out from train_set;
# `test` is full_test_set, whose chest-tube groups give the worst-group AUROC.
dataset_type = 'SIIMACR'
data_root = 'data/siim_acr'
img_size = 518

data_preprocessor = dict(
    num_classes=2,
    # The reference's single-channel statistics, 0.48865 / 0.24621 on a
    # 0-1 scale, repeated over the 3 identical channels.
    mean=[0.48865 * 255] * 3,
    std=[0.24621 * 255] * 3,
    to_rgb=False,
)

# LoadDicomFromFile reads .dcm files (pydicom) and anything else like
# LoadImageWithChecks, so the copied-DICOM and the PNG layouts both work.
train_pipeline = [
    dict(type='LoadDicomFromFile'),
    dict(type='Resize', scale=(img_size, img_size)),
    dict(type='RandomFlip', prob=0.5, direction='horizontal'),
    dict(type='PackInputs'),
]

# Training images carry no tube label: PackInputs skips absent keys, so the
# same pipeline serves `val` (no groups) and the test sets (groups).
test_pipeline = [
    dict(type='LoadDicomFromFile'),
    dict(type='Resize', scale=(img_size, img_size)),
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
# On `val` only `auroc/all` exists (no tube labels); on `test` GroupAUROC
# also gives `auroc/minority`, the papers' WG-AUC (robust_test_set).
val_evaluator = [dict(type='GroupAUROC'), dict(type='Accuracy', topk=(1, ))]

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
