# MMPretrain's runtime plus the hooks every ifam_mm config wants (each
# config registers the plugin itself with `custom_imports`; two bases may
# not both set it):
#   checkpoint   AtomicCheckpointHook: CheckpointHook's arguments, but a kill
#                while it saves never costs the last checkpoint (atomic
#                files and last_checkpoint pointer; outdated checkpoints
#                deleted only after the new one is saved;
#                docs/reliability.md).
#   epoch_seed   seeds Python, NumPy and torch from (seed, epoch) before each
#                training epoch, so training resumed with --resume draws the
#                same random numbers (Gumbel noise, part dropout,
#                augmentation) as training that was never interrupted
#                (docs/reliability.md).
#   finite_loss  stops training at the first NaN or infinite loss term or
#                gradient norm, before that step is saved
#                (docs/reliability.md).
_base_ = ['mmpretrain::_base_/default_runtime.py']

default_hooks = dict(
    checkpoint=dict(type='AtomicCheckpointHook'),
    epoch_seed=dict(type='EpochSeedHook'),
    finite_loss=dict(type='FiniteLossHook'))
