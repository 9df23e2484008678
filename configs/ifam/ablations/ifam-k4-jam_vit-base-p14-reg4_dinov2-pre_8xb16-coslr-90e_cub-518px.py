# Ablation "w/o shaping (JAM)" (paper ablation table): every part-shaping
# loss weighted 0 and no equivariance pass, which reduces stage 1 to a
# joint amortized selector trained by the two classification losses only.
#
# Frequently modified parameters: those of the CUB K = 4 / K = 8 configs.
_base_ = [
    '../ifam-k4_vit-base-p14-reg4_dinov2-pre_8xb16-coslr-90e_cub-518px.py'
]

# Weight 0 rather than removing the terms, as the paper's flags do: the
# terms are still computed and logged (how blurred, empty or overlapping the
# parts become without them) but give no gradient. The equivariance loss
# needs a second stage-1 pass, so it is switched off entirely.
model = dict(
    part_head=dict(
        shaping_losses=dict(
            presence=dict(loss_weight=0.0),
            background=dict(loss_weight=0.0),
            total_variation=dict(loss_weight=0.0),
            entropy=dict(loss_weight=0.0),
            orthogonality=dict(loss_weight=0.0))),
    equivariance=None,
)
