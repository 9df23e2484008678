# The iFAM recipe's structure for toy models trained from scratch on a CPU:
# AdamW, per-group multipliers and weight-decay exclusions, clipping at 2.0
# and a per-epoch cosine without warm-up, with rates fit for random
# weights. The paper's base rate (1e-6) is for fine-tuning a pretrained ViT:
# here the ViTs train at 1e-3, and the heads keep the paper's *absolute*
# rates (1e-3 prototypes, 1e-2 modulation and classifiers), hence the
# smaller multipliers. The keys are the paper schedule's
# (configs/_base_/schedules/ifam_adamw-coslr-90e.py explains each).
max_epochs = 10

optim_wrapper = dict(
    type='OptimWrapper',
    optimizer=dict(
        type='AdamW', lr=1e-3, betas=(0.9, 0.999), weight_decay=0.05),
    clip_grad=dict(max_norm=2.0),
    paramwise_cfg=dict(
        norm_decay_mult=0.0,
        bias_decay_mult=0.0,
        flat_decay_mult=0.0,
        custom_keys={
            '.cls_token': dict(decay_mult=0.0),
            '.reg_token': dict(decay_mult=0.0),
            '.pos_embed': dict(decay_mult=0.0),
            'part_head.prototypes': dict(lr_mult=1.0, decay_mult=0.0),
            'part_head.modulation': dict(lr_mult=10.0, decay_mult=0.0),
            'part_head.classifier': dict(lr_mult=10.0),
            'head.fc_norm': dict(lr_mult=10.0, decay_mult=0.0),
            'head.fc.': dict(lr_mult=10.0),
        }),
)

param_scheduler = [
    dict(
        type='CosineAnnealingLR',
        by_epoch=True,
        T_max=max_epochs,
        eta_min=0.0,
        begin=0,
        end=max_epochs,
        convert_to_iter_based=False),
]

train_cfg = dict(by_epoch=True, max_epochs=max_epochs, val_interval=2)
val_cfg = dict()
test_cfg = dict()

auto_scale_lr = dict(base_batch_size=16, enable=False)
