# The user's command name for iFAM on CUB (K = 8, 518 px, 8 GPUs):
#     bash tools/dist_train.sh configs/ifam_cub_k8.py 8
# It is the OpenMMLab-named config below, unchanged; edit the variables
# there (pretrained weights, data root, batch) or override them here.
_base_ = [
    './ifam/ifam-k8_vit-base-p14-reg4_dinov2-pre_8xb16-coslr-90e_cub-518px.py'
]
