# A short AdamW schedule for toy data: a 50-iteration linear warm-up and a
# cosine decay over all epochs.
max_epochs = 10

optim_wrapper = dict(
    optimizer=dict(type='AdamW', lr=2e-3, weight_decay=0.05),
    # No weight decay on norms, biases, the cls/register tokens and the
    # position embedding, as usual for ViTs.
    paramwise_cfg=dict(
        norm_decay_mult=0.0,
        bias_decay_mult=0.0,
        custom_keys={
            '.cls_token': dict(decay_mult=0.0),
            '.reg_token': dict(decay_mult=0.0),
            '.pos_embed': dict(decay_mult=0.0),
        }),
)

param_scheduler = [
    # Warm up per iteration: an epoch-based warm-up would stretch with the
    # dataset and leave short toy runs stuck at chance level.
    dict(type='LinearLR', start_factor=0.1, by_epoch=False, begin=0, end=50),
    # `end` is fixed when the config is parsed: after a larger
    # train_cfg.max_epochs (e.g. from --cfg-options) the LR stays at eta_min.
    dict(
        type='CosineAnnealingLR',
        eta_min=1e-5,
        by_epoch=True,
        begin=0,
        end=max_epochs),
]

train_cfg = dict(by_epoch=True, max_epochs=max_epochs, val_interval=2)
val_cfg = dict()
test_cfg = dict()

# Scale the LR linearly from this total batch size with --auto-scale-lr.
auto_scale_lr = dict(base_batch_size=16)
