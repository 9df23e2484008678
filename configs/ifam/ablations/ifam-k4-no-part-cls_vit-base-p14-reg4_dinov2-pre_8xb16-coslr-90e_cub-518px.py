# Ablation "No stage-1 classification" (paper ablation table): the stage-1
# part classifier gets no loss (`--classification_loss 0`), so the parts
# are shaped only by the shaping losses (and, with
# mask_grad='straight_through', by the stage-2 loss).
#
# Frequently modified parameters: those of the CUB K = 4 / K = 8 configs.
_base_ = [
    '../ifam-k4_vit-base-p14-reg4_dinov2-pre_8xb16-coslr-90e_cub-518px.py'
]

# Still computed and logged as loss_part_cls (weight 0), so the stage-1
# accuracy of the untrained classifier stays visible.
model = dict(part_head=dict(loss_cls=dict(loss_weight=0.0)))
