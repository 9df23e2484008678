# iFAM with the straight-through gradient from stage 2 into stage 1's mask
# (docs/demo.md compares it with the detached default).
_base_ = ['./ifam-k8_vit-tiny-p8_2xb16_spurious-shapes.py']

model = dict(stage2_backbone=dict(mask_grad='straight_through'))
