# Ablation "Frozen stage 2" (paper ablation table, `--freeze_second_stage`):
# the stage-2 ViT keeps its pretrained blocks, patch embedding and final
# norm. HardMaskViT(frozen=True) still trains the stage-2 CLS token,
# registers and position embedding (and the new fc_norm and classifier of
# the head train as always), exactly as the reference, which freezes those
# tokens only with the separate `--freeze_params_stage_2`.
#
# Frequently modified parameters: those of the CUB K = 4 / K = 8 configs.
_base_ = [
    '../ifam-k4_vit-base-p14-reg4_dinov2-pre_8xb16-coslr-90e_cub-518px.py'
]

model = dict(stage2_backbone=dict(frozen=True))
