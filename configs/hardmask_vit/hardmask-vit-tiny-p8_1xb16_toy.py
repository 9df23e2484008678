# Toy HardMaskViT classifier on the generated pattern set
# (ifam_mm.testing.make_toy_classification_set), for tests, demos and smoke
# runs on a CPU (see tools/demo.py).
#
# Frequently modified parameters (--cfg-options takes the dotted keys):
#   data_root                      where the toy set lives; a plain variable,
#     so on the command line set {train,val,test}_dataloader.dataset.data_root
#   train_cfg.max_epochs           length of training
#   train_cfg.val_interval         validate every N epochs
#   train_dataloader.batch_size    batch size per process (GPU)
#   optim_wrapper.optimizer.lr     base learning rate
#   model.head.num_classes         keep equal to data_preprocessor.num_classes
#   default_hooks.logger.interval  log every N iterations
_base_ = [
    'mmpretrain::_base_/default_runtime.py',
    '../_base_/models/hardmask-vit-tiny-p8.py',
    '../_base_/datasets/toy_patterns_bs16.py',
    '../_base_/schedules/toy_adamw_10e.py',
]

# Registers HardMaskViT (and AtomicCheckpointHook) in every process that
# parses this config, torchrun workers included.
custom_imports = dict(imports=['ifam_mm'], allow_failed_imports=False)

data_root = 'data/toy'
train_dataloader = dict(dataset=dict(data_root=data_root))
val_dataloader = dict(dataset=dict(data_root=data_root))
test_dataloader = dict(dataset=dict(data_root=data_root))

default_hooks = dict(
    logger=dict(type='LoggerHook', interval=10),
    checkpoint=dict(type='AtomicCheckpointHook', interval=1, max_keep_ckpts=3),
)

# A fixed seed makes toy runs (and the accuracies tests check) repeatable.
randomness = dict(seed=0, deterministic=False)
