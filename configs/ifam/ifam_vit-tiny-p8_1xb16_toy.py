# Toy iFAM (two tiny ViTs, K = 4 parts) on the generated pattern set
# (ifam_mm.testing.make_toy_classification_set), for tests, demos and smoke
# runs on a CPU, including 2-process runs with tools/dist_train.sh.
#
# Frequently modified parameters (--cfg-options takes the dotted keys):
#   data_root                      where the toy set lives; a plain variable,
#     so on the command line set {train,val,test}_dataloader.dataset.data_root
#   train_cfg.max_epochs           length of training (the cosine schedule
#                                  keeps its 10-epoch length)
#   train_dataloader.batch_size    batch size per process
#   optim_wrapper.optimizer.lr     base learning rate of the ViTs
#   model.part_head.num_parts      K
#   model.stage2_backbone.mask_grad   'none' / 'straight_through'
_base_ = [
    '../_base_/default_runtime.py',
    '../_base_/models/ifam_vit-tiny-p8.py',
    '../_base_/datasets/toy_patterns_bs16.py',
    '../_base_/schedules/ifam_toy_adamw-coslr-10e.py',
]

custom_imports = dict(imports=['ifam_mm'], allow_failed_imports=False)

data_root = 'data/toy'
train_dataloader = dict(dataset=dict(data_root=data_root))
val_dataloader = dict(dataset=dict(data_root=data_root))
test_dataloader = dict(dataset=dict(data_root=data_root))

default_hooks = dict(
    logger=dict(type='LoggerHook', interval=10),
    checkpoint=dict(
        type='AtomicCheckpointHook',
        interval=1,
        max_keep_ckpts=3,
        save_best='accuracy/top1',
        rule='greater'),
)

randomness = dict(seed=0, deterministic=False)
