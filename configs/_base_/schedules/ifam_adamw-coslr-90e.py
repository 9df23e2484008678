# The iFAM training recipe (docs/method.md "Training recipe"): AdamW, per-epoch
# cosine decay to 0 without warm-up, global gradient-norm clipping at 2.0,
# and per-group learning-rate multipliers and weight-decay exclusions.
#
# `lr` and `weight_decay` below are the CUB values (8 GPUs x 16 images). They
# depend on the total batch size and on the training-set size, so every
# top-level config recomputes them (see the comment block there).
max_epochs = 90

# Paper-style parameter groups. mmengine matches a custom key as a
# *substring* of the full parameter name (longest key first), and a matched
# key switches the norm/bias/flat rules off for that parameter, so every key
# carries its own decay_mult. The keys are chosen to catch only what they
# name (tests/test_configs_ifam.py checks the effective lr and decay of
# every parameter):
#   '.cls_token', '.reg_token', '.pos_embed'  stage-1 and stage-2 tokens
#       (the only trainable stage-1 ViT weights): x1, no decay.
#   'part_head.prototypes'   x1e3, no decay.
#   'part_head.modulation'   the [D, K+1] LayerNorm: x1e4, no decay (its
#       weight is 2-D, so the 1-D rule alone would decay it).
#   'part_head.classifier'   stage-1 classifier: x1e4, decayed.
#   'head.fc_norm'           stage-2 fresh LayerNorm: x1e4, no decay.
#   'head.fc.'               stage-2 classifier: x1e4, decayed. The trailing
#       dot keeps it off 'head.fc_norm.*'.
# Everything else (the stage-2 ViT) trains at x1, with decay on matrices
# only: norm weights, biases and LayerScale gammas are 1-D, and
# flat_decay_mult=0 exempts all of them (norm_/bias_decay_mult say the same
# for the norms and biases the flat rule would catch anyway).
optim_wrapper = dict(
    type='OptimWrapper',
    optimizer=dict(
        type='AdamW', lr=2.828e-6, betas=(0.9, 0.999), weight_decay=8.1e-4),
    clip_grad=dict(max_norm=2.0),
    paramwise_cfg=dict(
        norm_decay_mult=0.0,
        bias_decay_mult=0.0,
        flat_decay_mult=0.0,
        custom_keys={
            '.cls_token': dict(decay_mult=0.0),
            '.reg_token': dict(decay_mult=0.0),
            '.pos_embed': dict(decay_mult=0.0),
            'part_head.prototypes': dict(lr_mult=1e3, decay_mult=0.0),
            'part_head.modulation': dict(lr_mult=1e4, decay_mult=0.0),
            'part_head.classifier': dict(lr_mult=1e4),
            'head.fc_norm': dict(lr_mult=1e4, decay_mult=0.0),
            'head.fc.': dict(lr_mult=1e4),
        }),
)

# Stepped once per epoch like timm's CosineLRScheduler(t_in_epochs=True):
# epoch e (from 0) trains at lr * (1 + cos(pi * e / max_epochs)) / 2.
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

train_cfg = dict(by_epoch=True, max_epochs=max_epochs, val_interval=1)
val_cfg = dict()
test_cfg = dict()

# The learning rates above are already scaled by sqrt(total batch / 16), as
# the paper does. mmengine's --auto-scale-lr scales *linearly* from
# base_batch_size, which is not the paper's rule: leave it off and change
# the batch variables of the top-level config instead.
auto_scale_lr = dict(base_batch_size=128, enable=False)
