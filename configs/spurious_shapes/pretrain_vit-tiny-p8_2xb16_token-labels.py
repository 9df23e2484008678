# Pretrains the tiny ViT that plays DINOv2's role in the demo
# (docs/demo.md): on a separate, spurious-free SpuriousShapes corpus (seed
# 1000, attributes independent of the class, no co-occurring objects), it
# learns to say for every token which creature part it shows, or that it is
# background (TokenLabelHead). It never sees a class label. Then
#   python tools/model_converters/extract_vit_weights.py \
#       <work_dir>/epoch_13.pth \
#       checkpoints/vit-tiny-p8_spurious-shapes-token-labels.pth
# writes the file the SpuriousShapes configs start from.
_base_ = [
    '../_base_/default_runtime.py',
    '../_base_/models/spurious-shapes_erm_vit-tiny-p8.py',
    '../_base_/datasets/spurious_shapes.py',
]

custom_imports = dict(imports=['ifam_mm'], allow_failed_imports=False)

model = dict(
    backbone=dict(out_type='featmap', pretrained=None),
    head=dict(
        _delete_=True,
        type='TokenLabelHead',
        in_channels=64,
        num_parts=4,
        min_fraction=0.25))

train_dataloader = dict(
    batch_size=16,
    dataset=dict(
        seed=1000, cue='background', p_major=0.5,
        # Only the training split is read; keep the others small.
        num_samples=dict(
            val=4, test=4, test_heldout_bg=4, only_fg=4, only_bg=4,
            mixed_same=4, mixed_rand=4)))
val_dataloader = None
val_cfg = None
val_evaluator = None
test_dataloader = None
test_cfg = None
test_evaluator = None

max_epochs = 13
optim_wrapper = dict(
    optimizer=dict(type='AdamW', lr=1e-3, weight_decay=0.05),
    clip_grad=dict(max_norm=2.0))
param_scheduler = [
    dict(type='LinearLR', start_factor=0.1, by_epoch=False, begin=0, end=40),
    dict(
        type='CosineAnnealingLR',
        eta_min=1e-5,
        by_epoch=True,
        begin=0,
        end=max_epochs,
        convert_to_iter_based=True),
]
train_cfg = dict(by_epoch=True, max_epochs=max_epochs)
default_hooks = dict(
    logger=dict(type='LoggerHook', interval=20),
    checkpoint=dict(type='AtomicCheckpointHook', interval=max_epochs))
randomness = dict(seed=0, deterministic=False)
