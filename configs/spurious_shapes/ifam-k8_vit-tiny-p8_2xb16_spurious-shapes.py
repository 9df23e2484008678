# iFAM (K = 8) on SpuriousShapes, the main model of the demo (docs/demo.md):
# a frozen pretrained stage 1 finds the object; stage 2, fine-tuned from the
# same weights, reads only the tokens it keeps.
#
# Frequently modified parameters (--cfg-options takes the dotted keys):
#   {train,val,test}_dataloader.dataset.seed   the seed of the generated data
#   {train,val,test}_dataloader.dataset.cue    'cooccurring_object' (default
#                                              here) or 'background'
#   model.backbone.pretrained / model.stage2_backbone.pretrained
#   model.stage2_backbone.mask_grad            'none' or 'straight_through'
#   model.test_cfg.remove_parts / token_thresholds   test-time interventions
_base_ = [
    '../_base_/default_runtime.py',
    '../_base_/models/spurious-shapes_ifam-k8_vit-tiny-p8.py',
    '../_base_/datasets/spurious-shapes_cooccurring-object_2xb16.py',
    '../_base_/schedules/spurious-shapes_adamw-10e.py',
]

custom_imports = dict(imports=['ifam_mm'], allow_failed_imports=False)

# Mask diagnostics beside the group metrics: which tokens stage 2 reads
# (cue_kept, fg_kept: a token with any cue / object pixel counts) and how
# well the kept tokens match the object (ForegroundIoU: a token is object
# if at least half its pixels are).
val_evaluator = [
    dict(type='Accuracy', topk=(1, )),
    dict(type='GroupAccuracy'),
    dict(type='MaskLeakMetric'),
    dict(type='ForegroundIoU'),
]
test_evaluator = val_evaluator
# Model selection on the validation split: best_*.pth is the checkpoint
# with the best validation worst-group accuracy.
default_hooks = dict(
    logger=dict(type='LoggerHook', interval=20),
    checkpoint=dict(
        type='AtomicCheckpointHook',
        interval=2,
        max_keep_ckpts=1,
        save_best='group/worst_group_acc',
        rule='greater'),
)
randomness = dict(seed=0, deterministic=False)
