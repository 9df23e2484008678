# Soft-mask ablation: stage 2's attention weights every key by stage 1's
# foreground probability instead of dropping background tokens, so it is
# no longer provably blind to them (docs/demo.md).
_base_ = ['./ifam-k8_vit-tiny-p8_2xb16_spurious-shapes.py']

model = dict(
    stage2_backbone=dict(mask_mode='soft', prune_masked_tokens=False))
