# Ablation of the stage-2 part-dropout rate (paper v1 table: 0.0, 0.1, 0.3
# chosen, 0.5): the rate at which whole parts are removed from the stage-2
# mask in training. Set `mask_part_dropout` below for the other rates.
#
# Frequently modified parameters: those of the CUB K = 4 / K = 8 configs,
# and:
#   mask_part_dropout   stage-2 part dropout (0.3 in the paper configs)
#   part_dropout        stage-1 part dropout before the part classifier
#                       (0.3 in the paper; not part of the v1 ablation)
_base_ = [
    '../ifam-k4_vit-base-p14-reg4_dinov2-pre_8xb16-coslr-90e_cub-518px.py'
]

mask_part_dropout = 0.0
part_dropout = 0.3
model = dict(
    part_head=dict(part_dropout=part_dropout),
    train_cfg=dict(mask_part_dropout=mask_part_dropout))
