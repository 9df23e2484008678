# SpuriousShapes (ifam_mm.datasets.spurious_shapes; docs/spurious_shapes.md):
# generated offline on first use under data_root, then cached there.
#
# Frequently modified parameters (--cfg-options takes the dotted keys; the
# plain variables below are copied into each dataloader when the config is
# parsed, so on the command line set {train,val,test}_dataloader.dataset.X):
#   dataset.cue             'background' (Waterbirds-like) or
#                           'cooccurring_object' (MetaShift-like)
#   dataset.seed            seed of the generated data
#   dataset.fg_source       'animals' (silhouettes) or 'creatures' (parts)
#   dataset.split           e.g. test_heldout_bg, only_fg, mixed_rand
#   train_dataloader.batch_size
custom_imports = dict(imports=['ifam_mm'], allow_failed_imports=False)

dataset_type = 'SpuriousShapes'
data_root = 'data/spurious_shapes'
# Generator settings shared by every split: splits of one dataset must agree.
spurious_shapes = dict(
    seed=0,
    cue='background',
    fg_source='creatures',
    img_size=64,
    patch_size=8,
)

data_preprocessor = dict(
    num_classes=2,
    # The textures are standardised to grey mean 128 and std 40; the
    # objects are saturated colours.
    mean=[128., 128., 128.],
    std=[64., 64., 64.],
    # LoadImageWithChecks reads BGR.
    to_rgb=True,
)

# No geometric augmentation: the generator already draws every object at a
# random size, position and orientation, and the masks must stay aligned.
pipeline = [
    dict(type='LoadImageWithChecks'),
    dict(type='LoadSpuriousShapesMasks'),
    dict(
        type='PackInputs',
        algorithm_keys=('group_label', 'spurious_label', 'bg_label',
                        'gt_fg_mask', 'gt_part_mask', 'gt_cue_mask'),
        meta_keys=('sample_idx', 'img_path', 'img_shape', 'variant')),
]

# num_workers=0: 64 px PNGs decode faster than worker processes start on
# 2-core machines.
train_dataloader = dict(
    batch_size=64,
    num_workers=0,
    persistent_workers=False,
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        split='train',
        pipeline=pipeline,
        **spurious_shapes),
    sampler=dict(type='DefaultSampler', shuffle=True),
)

val_dataloader = dict(
    batch_size=100,
    num_workers=0,
    persistent_workers=False,
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        split='val',
        pipeline=pipeline,
        **spurious_shapes),
    sampler=dict(type='DefaultSampler', shuffle=False),
)
# GroupAccuracy reads group names, training group counts and minority
# groups from the dataset's metainfo.
val_evaluator = [
    dict(type='Accuracy', topk=(1, )),
    dict(type='GroupAccuracy'),
]

test_dataloader = dict(
    batch_size=100,
    num_workers=0,
    persistent_workers=False,
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        split='test',
        pipeline=pipeline,
        **spurious_shapes),
    sampler=dict(type='DefaultSampler', shuffle=False),
)
test_evaluator = val_evaluator
