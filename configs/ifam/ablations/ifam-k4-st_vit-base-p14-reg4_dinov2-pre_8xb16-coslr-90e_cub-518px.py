# Straight-through variant: the stage-2 loss also trains stage 1 through the
# hard mask (docs/method.md "The token mask", "Where the reference code
# differs"), as the paper describes. The released code detaches the mask (its
# bool cast), which the paper configs reproduce with mask_grad='none'. The
# forward pass is the same hard masking; only the gradient differs.
#
# Frequently modified parameters: those of the CUB K = 4 / K = 8 configs.
_base_ = [
    '../ifam-k4_vit-base-p14-reg4_dinov2-pre_8xb16-coslr-90e_cub-518px.py'
]

# mask_grad belongs to the ViT that receives the mask, i.e. stage 2; the
# stage-1 ViT never gets one.
model = dict(stage2_backbone=dict(mask_grad='straight_through'))
