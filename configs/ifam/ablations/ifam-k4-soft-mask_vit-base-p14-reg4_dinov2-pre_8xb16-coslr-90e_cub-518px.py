# Ablation "Soft masks" (paper ablation table, `--use_soft_masks`): stage 2
# weights every key by the token's largest foreground probability,
# softmax(s + log m), instead of hiding background tokens. Computed in fp32
# as key-weighted attention, so no log(0) and no fp16 underflow; it cannot
# prune (no token is fully hidden), and the soft mask passes its gradient to
# stage 1 as the reference's soft path does.
#
# Frequently modified parameters: those of the CUB K = 4 / K = 8 configs.
_base_ = [
    '../ifam-k4_vit-base-p14-reg4_dinov2-pre_8xb16-coslr-90e_cub-518px.py'
]

model = dict(
    stage2_backbone=dict(
        mask_mode='soft',
        prune_masked_tokens=False,
        mask_grad='straight_through'))
