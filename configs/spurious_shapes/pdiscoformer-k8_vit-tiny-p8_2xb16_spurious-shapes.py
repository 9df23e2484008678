# PDiscoFormer alone (late masking, no second stage): the frozen pretrained
# stage 1 of the iFAM config classifies from its part vectors.
_base_ = ['./ifam-k8_vit-tiny-p8_2xb16_spurious-shapes.py']

model = dict(
    head=None, stage2_backbone=None, test_cfg=dict(predict_stage='stage1'))
val_evaluator = [
    dict(type='Accuracy', topk=(1, )),
    dict(type='GroupAccuracy'),
    dict(type='MaskLeakMetric'),
    dict(type='ForegroundIoU'),
]
test_evaluator = val_evaluator
