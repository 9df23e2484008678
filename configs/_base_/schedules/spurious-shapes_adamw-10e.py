# Fine-tuning schedule of every SpuriousShapes model (docs/demo.md): AdamW
# at 5e-4 for 10 epochs of the 2,000 training images (630 iterations at a
# total batch of 32), a 30-iteration warm-up and a per-iteration cosine.
# Validation every 2 epochs, for model selection (each model config keeps
# the checkpoint with the best validation worst-group accuracy).
max_epochs = 10

optim_wrapper = dict(
    type='OptimWrapper',
    optimizer=dict(type='AdamW', lr=5e-4, weight_decay=0.05),
    clip_grad=dict(max_norm=2.0),
    # Stage 1 is frozen: only its prototypes, modulation and part classifier
    # learn, from scratch, within the same short budget as everything else,
    # hence the large multipliers (no-ops for models without a part head).
    paramwise_cfg=dict(
        custom_keys={
            'part_head.prototypes': dict(lr_mult=20.0, decay_mult=0.0),
            'part_head.modulation': dict(lr_mult=10.0, decay_mult=0.0),
            'part_head.classifier': dict(lr_mult=10.0),
        }),
)

param_scheduler = [
    dict(type='LinearLR', start_factor=0.1, by_epoch=False, begin=0, end=30),
    dict(
        type='CosineAnnealingLR',
        eta_min=5e-6,
        by_epoch=True,
        begin=0,
        end=max_epochs,
        convert_to_iter_based=True),
]

train_cfg = dict(by_epoch=True, max_epochs=max_epochs, val_interval=2)
val_cfg = dict()
test_cfg = dict()

# Two processes of 16 images (tools/dist_train.sh CONFIG 2).
auto_scale_lr = dict(base_batch_size=32, enable=False)
