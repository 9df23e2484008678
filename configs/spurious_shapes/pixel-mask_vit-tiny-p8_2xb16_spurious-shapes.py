# The pixel-masked reference (docs/demo.md; not an upper bound on the demo's
# budget): the ERM model trained and tested on images whose pixels outside
# the ground-truth object mask are set to grey (FillBackground), so no
# spurious cue reaches it.
_base_ = ['./erm_vit-tiny-p8_2xb16_spurious-shapes.py']

pipeline = [
    dict(type='LoadImageWithChecks'),
    dict(type='LoadSpuriousShapesMasks'),
    dict(type='FillBackground'),
    dict(
        type='PackInputs',
        algorithm_keys=('group_label', 'spurious_label', 'bg_label',
                        'gt_fg_mask', 'gt_part_mask', 'gt_cue_mask'),
        meta_keys=('sample_idx', 'img_path', 'img_shape', 'variant')),
]
train_dataloader = dict(dataset=dict(pipeline=pipeline))
val_dataloader = dict(dataset=dict(pipeline=pipeline))
test_dataloader = dict(dataset=dict(pipeline=pipeline))
