# The iFAM recipe for ImageNet-1K (docs/method.md "Training recipe"): the same
# parameter groups, clipping and per-epoch cosine as the 90-epoch schedule,
# trained for 120 epochs with mixed precision. The EMA of the weights is a
# hook; the ImageNet config adds it.
_base_ = ['./ifam_adamw-coslr-90e.py']

max_epochs = 120

# bfloat16 autocast, as the reference uses where the GPU supports it (it
# falls back to float16 with a GradScaler elsewhere: set dtype='float16').
# The part head computes its distances in float32 with autocast off either
# way. mmengine's AmpOptimWrapper needs a GPU; on a CPU, tools/train.py
# --amp swaps in CPUAutocastOptimWrapper.
optim_wrapper = dict(type='AmpOptimWrapper', dtype='bfloat16')

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

auto_scale_lr = dict(base_batch_size=1024, enable=False)
