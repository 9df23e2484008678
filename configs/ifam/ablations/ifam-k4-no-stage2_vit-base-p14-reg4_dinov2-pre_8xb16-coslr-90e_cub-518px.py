# Ablation "No second stage" (paper ablation table): stage 1 alone, i.e.
# PDiscoFormer, the late-masking baseline, predicting from its part
# classifier. Everything else is the CUB K = 4 recipe.
#
# Frequently modified parameters: those of the CUB K = 4 / K = 8 configs.
_base_ = [
    '../ifam-k4_vit-base-p14-reg4_dinov2-pre_8xb16-coslr-90e_cub-518px.py'
]

# The stage-2 ViT and head are not built at all; the paramwise keys of the
# stage-2 head then match nothing, which is harmless.
model = dict(
    head=None,
    stage2_backbone=None,
    test_cfg=dict(predict_stage='stage1'),
)
