# Stage 2 given the ground-truth token mask (docs/demo.md): iFAM's predictor
# (the ERM model) whose attention reads only the tokens that hold at least
# one object pixel (token_threshold = 1/64 of an 8 x 8 patch). The
# co-occurring cue never shares a token with the object, so this mask drops
# it exactly and keeps all of the object, thin legs and tails included
# (the >= 50 % rule hides 29 % of the object: docs/spurious_shapes.md).
_base_ = ['./erm_vit-tiny-p8_2xb16_spurious-shapes.py']

model = dict(
    type='EarlyMaskClassifier', mask_key='gt_fg_mask', token_threshold=0.01)
