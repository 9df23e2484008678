# Waterbird200 evaluation of the CUB K = 8 model: the CUB test birds pasted
# on Places backgrounds (a background-shift test, the paper's "WB200"). It
# only changes the test set of the CUB config, so train with that config
# and test its checkpoint here:
#     python tools/test.py THIS_CONFIG work_dirs/<cub run>/best_*.pth
# For K = 4 or 16, change `_base_` to the matching CUB config.
#
# Frequently modified parameters:
#   data_root           the CUB_200_2011 folder, with the Waterbirds archive
#                       extracted into it
#                       (waterbird_complete95_forest2water2/<class>/<image>)
_base_ = [
    './ifam-k8_vit-base-p14-reg4_dinov2-pre_8xb16-coslr-90e_cub-518px.py'
]

data_root = 'data/CUB_200_2011'
# `split='test'`: the CUB test images, labels and split file, read from the
# Waterbirds folder; the pipeline is CUB's test pipeline.
test_dataloader = dict(
    dataset=dict(type='Waterbird200', data_root=data_root, split='test'))
test_evaluator = dict(type='Accuracy', topk=(1, ))
