# Copyright (c) ifam_mm contributors. All rights reserved.
"""mmengine's CheckpointHook, made safe against a kill while it saves."""
import contextlib
import os.path as osp
from typing import Iterator, List, Tuple

from mmengine.dist import is_main_process
from mmengine.fileio.backends import LocalBackend
from mmengine.hooks import CheckpointHook

from mmpretrain.registry import HOOKS
from ...fileio import AtomicLocalBackend, write_atomically


class _RemovalsNoted:
    """A file backend whose ``remove`` and ``rmtree`` only note the path."""

    def __init__(self, backend):
        self.backend = backend
        self.noted: List[Tuple[str, str]] = []

    def remove(self, path) -> None:
        self.noted.append(('remove', path))

    def rmtree(self, path) -> None:
        self.noted.append(('rmtree', path))

    def __getattr__(self, name):
        return getattr(self.backend, name)


@HOOKS.register_module()
class AtomicCheckpointHook(CheckpointHook):
    """A ``CheckpointHook`` after which ``--resume`` always finds a complete
    checkpoint, whenever training was killed.

    mmengine 0.10's hook writes checkpoints and the ``last_checkpoint``
    pointer in place, re-saves the last checkpoint after a validation that
    improved the best score, and deletes the checkpoint that falls out of
    ``max_keep_ckpts`` (or the previous best) *before* it saves the new one.
    A kill at the wrong moment left a truncated last checkpoint, or none.
    This hook, with the same arguments:

    * writes checkpoints through :class:`AtomicLocalBackend` (a temporary
      sibling, flushed to disk, renamed into place), unless ``backend_args``
      or ``file_client_args`` name a backend, or ``out_dir`` is not a local
      path (then the checkpoint files are written as ``CheckpointHook``
      writes them, which is logged);
    * replaces the ``last_checkpoint`` pointer atomically;
    * deletes outdated checkpoints only after the new ones are saved.

    Args:
        **kwargs: Those of :class:`mmengine.hooks.CheckpointHook`.

    Examples:
        >>> # configs/_base_/default_runtime.py
        >>> default_hooks = dict(checkpoint=dict(type='AtomicCheckpointHook'))
    """

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._backend_chosen = (
            self.backend_args is not None
            or self.file_client_args is not None)

    def before_train(self, runner) -> None:
        super().before_train(runner)
        if self._backend_chosen:
            return
        if type(self.file_backend) is LocalBackend:
            self.backend_args = dict(backend='atomic_local')
            self.file_backend = AtomicLocalBackend()
        else:
            runner.logger.warning(
                f'AtomicCheckpointHook: {self.out_dir} is not a local path, '
                'so its checkpoint files are written by '
                f'{type(self.file_backend).__name__}, not atomically; the '
                'last_checkpoint pointer still is.')

    @contextlib.contextmanager
    def _removals_after_saving(self) -> Iterator[None]:
        """Hold back the deletions asked for inside the block until it has
        saved everything, and skip those of checkpoints that are current
        (the last one, the best ones). A save that fails deletes nothing."""
        backend = self.file_backend
        if isinstance(backend, _RemovalsNoted):  # nested: the outer block
            yield
            return
        self.file_backend = _RemovalsNoted(backend)
        try:
            yield
            noted = self.file_backend.noted
        finally:
            self.file_backend = backend
        current = {
            self.last_ckpt,
            getattr(self, 'best_ckpt_path', None),
            *getattr(self, 'best_ckpt_path_dict', {}).values()
        }
        if not is_main_process():
            return
        for method, path in noted:
            if path not in current:
                getattr(backend, method)(path)

    def _save_checkpoint_with_step(self, runner, step, meta) -> None:
        """mmengine 0.10's method, but the checkpoint past
        ``max_keep_ckpts`` goes after the save, and the pointer is replaced
        atomically (mmengine writes it in place with ``open``)."""
        with self._removals_after_saving():
            if self.max_keep_ckpts > 0 and not (
                    self.keep_ckpt_ids and self.keep_ckpt_ids[-1] == step):
                # The last checkpoint is saved again after a validation that
                # improved the best score: same step, nothing falls out.
                if len(self.keep_ckpt_ids) == self.max_keep_ckpts:
                    outdated = self.file_backend.join_path(
                        self.out_dir,
                        self.filename_tmpl.format(
                            self.keep_ckpt_ids.popleft()))
                    if self.file_backend.isfile(outdated):
                        self.file_backend.remove(outdated)
                    elif self.file_backend.isdir(outdated):  # deepspeed
                        self.file_backend.rmtree(outdated)
                self.keep_ckpt_ids.append(step)
                runner.message_hub.update_info('keep_ckpt_ids',
                                               list(self.keep_ckpt_ids))

            filename = self.filename_tmpl.format(step)
            self.last_ckpt = self.file_backend.join_path(
                self.out_dir, filename)
            runner.message_hub.update_info('last_ckpt', self.last_ckpt)
            runner.save_checkpoint(
                self.out_dir,
                filename,
                self.file_client_args,
                save_optimizer=self.save_optimizer,
                save_param_scheduler=self.save_param_scheduler,
                meta=meta,
                by_epoch=self.by_epoch,
                backend_args=self.backend_args,
                **self.args)
            # Sharded (model-parallel) states are gathered by every rank;
            # only the main one writes the pointer, as in mmengine.
            if is_main_process():
                write_atomically(
                    osp.join(runner.work_dir, 'last_checkpoint'),
                    self.last_ckpt, 'w')

    def _save_best_checkpoint(self, runner, metrics) -> None:
        """mmengine's, but the previous best checkpoint goes only after the
        new best one (and the re-saved last one) is saved."""
        with self._removals_after_saving():
            super()._save_best_checkpoint(runner, metrics)
