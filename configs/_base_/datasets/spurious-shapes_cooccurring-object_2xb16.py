# SpuriousShapes with the MetaShift-like cue, the main setting of the demo
# (docs/demo.md): the attribute is a small second object drawn on tokens
# that hold no pixel of the main object, so a token mask can drop it
# exactly. Two processes of 16 images (tools/dist_train.sh CONFIG 2). For
# the Waterbirds-like variant set {train,val,test}_dataloader.dataset.cue=
# background.
_base_ = ['./spurious_shapes.py']

train_dataloader = dict(
    batch_size=16, dataset=dict(cue='cooccurring_object'))
val_dataloader = dict(dataset=dict(cue='cooccurring_object'))
test_dataloader = dict(dataset=dict(cue='cooccurring_object'))
