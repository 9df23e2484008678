# Tiny iFAM (K = 4, 64-d ViTs from scratch) on the embedded SpuriousShapes
# benchmark (docs/spurious_shapes.md): a smoke-test-sized model that needs
# no pretrained file (the tests use it). The demo's recipe, with a frozen
# pretrained stage 1, is ifam-k8_vit-tiny-p8_2xb16_spurious-shapes.py.
# The data are generated offline on first use under data_root.
#
# Frequently modified parameters (--cfg-options takes the dotted keys):
#   {train,val,test}_dataloader.dataset.data_root   where the data are cached
#   {train,val,test}_dataloader.dataset.cue         'background' or
#                                                   'cooccurring_object'
#   model.stage2_backbone.mask_grad   'none' or 'straight_through'
#   train_cfg.max_epochs              length of training
_base_ = [
    '../_base_/default_runtime.py',
    '../_base_/models/ifam_vit-tiny-p8.py',
    '../_base_/datasets/spurious_shapes.py',
    '../_base_/schedules/ifam_toy_adamw-coslr-10e.py',
]

custom_imports = dict(imports=['ifam_mm'], allow_failed_imports=False)

# SpuriousShapes defaults: 64 px images, 8 px patches, two classes.
model = dict(
    backbone=dict(img_size=64),
    stage2_backbone=dict(img_size=64),
    part_head=dict(num_classes=2),
    head=dict(num_classes=2))

default_hooks = dict(
    logger=dict(type='LoggerHook', interval=20),
    checkpoint=dict(
        type='AtomicCheckpointHook',
        interval=1,
        max_keep_ckpts=2,
        save_best='group/worst_group_acc',
        rule='greater'),
)

randomness = dict(seed=0, deterministic=False)
