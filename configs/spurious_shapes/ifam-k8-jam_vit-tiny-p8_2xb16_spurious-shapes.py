# Without-shaping ablation (JAM-like): stage 1 learns its parts from the
# classification losses alone, with no part-shaping or equivariance loss.
_base_ = ['./ifam-k8_vit-tiny-p8_2xb16_spurious-shapes.py']

model = dict(
    part_head=dict(shaping_losses=dict(_delete_=True)), equivariance=None)
