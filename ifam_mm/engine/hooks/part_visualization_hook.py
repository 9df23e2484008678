# Copyright (c) ifam_mm contributors. All rights reserved.
"""Part-map overlays and per-part galleries during validation and test."""
import os.path as osp
from typing import Optional, Sequence

import mmcv
import numpy as np
from mmengine.dist import is_main_process
from mmengine.hooks import Hook

from mmpretrain.registry import HOOKS
from mmpretrain.structures import DataSample
from ...visualization import (PartGallery, PartMapVisualizer,
                              images_from_batch, num_parts_of, sample_name)
from .utils import training_step, unwrap


@HOOKS.register_module()
class PartVisualizationHook(Hook):
    """Draws part overlays and per-part galleries during val and test.

    Every ``interval``-th sample gets ``[image | parts | stage-2 input]``
    (:meth:`PartMapVisualizer.draw_part_sample`), stored as
    ``parts_<dataset index>_<file stem>``; at the end of each val/test
    epoch every part gets a gallery of the ``gallery_size`` images where it
    covers most tokens, stored as ``gallery_part_<k>``. Images go through
    the runner's visualizer (``runner.visualizer.add_image``: its vis
    backends, e.g. ``LocalVisBackend`` writes
    ``<log dir>/vis_data/vis_image/<name>_<step>.png``), or straight into
    ``out_dir`` when given. The step is the epoch
    (iteration for iteration-based training) during training, 0 otherwise.

    The runner's visualizer may be any mmengine ``Visualizer``: when it is
    a ``PartMapVisualizer`` the hook draws with it, else with its own one
    (built from ``draw_cfg``, no backends) and stores through the
    runner's.

    Args:
        interval (int): Draw every ``interval``-th sample the main process
            reads (under DDP it reads every world-size-th image, as
            mmpretrain's VisualizationHook). Galleries see every process's
            images. Defaults to 50.
        gallery_size (int): Images per part gallery; 0 disables galleries.
            Defaults to 8.
        out_dir (str, optional): Write PNGs here instead of to the vis
            backends. Defaults to None.
        draw_cfg (dict, optional): ``PartMapVisualizer`` settings (``alpha``,
            ``dim``, ``min_size``) for the hook's own visualizer; refused
            when the runner's visualizer is a ``PartMapVisualizer`` (set
            them there). Defaults to None.
    """

    def __init__(self,
                 interval: int = 50,
                 gallery_size: int = 8,
                 out_dir: Optional[str] = None,
                 draw_cfg: Optional[dict] = None) -> None:
        if interval < 1:
            raise ValueError(f'interval must be >= 1, got {interval}.')
        if gallery_size < 0:
            raise ValueError(
                f'gallery_size must be >= 0, got {gallery_size}.')
        self.interval = interval
        self.gallery_size = gallery_size
        self.out_dir = out_dir
        self.draw_cfg = draw_cfg or {}
        self._drawer: Optional[PartMapVisualizer] = None
        self._gallery: Optional[PartGallery] = None

    def before_run(self, runner) -> None:
        model = unwrap(runner.model)
        self.num_parts = num_parts_of(model)
        self.to_rgb = bool(getattr(model.data_preprocessor, 'to_rgb', False))
        if isinstance(runner.visualizer, PartMapVisualizer):
            if self.draw_cfg:
                raise ValueError(
                    "draw_cfg configures the hook's own visualizer, but the "
                    "runner's visualizer is a PartMapVisualizer, which the "
                    'hook draws with. Set alpha/dim/min_size in '
                    "visualizer=dict(type='PartMapVisualizer', ...) instead.")
            self._drawer = runner.visualizer
        else:
            # Built directly, not through the registry: a registry-built
            # visualizer would become mmengine's "current" instance.
            self._drawer = PartMapVisualizer(
                name='part_visualization_hook', **self.draw_cfg)

    def before_val_epoch(self, runner) -> None:
        self._start(runner)

    def before_test_epoch(self, runner) -> None:
        self._start(runner)

    def _start(self, runner) -> None:
        self._seen = 0
        self._gallery = (
            PartGallery(self.num_parts, self.gallery_size)
            if self.gallery_size else None)
        self._drawer.dataset_meta = runner.visualizer.dataset_meta

    def after_val_iter(self, runner, batch_idx: int, data_batch: dict,
                       outputs: Sequence[DataSample]) -> None:
        self._add_batch(runner, data_batch, outputs, training_step(runner))

    def after_test_iter(self, runner, batch_idx: int, data_batch: dict,
                        outputs: Sequence[DataSample]) -> None:
        self._add_batch(runner, data_batch, outputs, 0)

    def _add_batch(self, runner, data_batch: dict,
                   outputs: Sequence[DataSample], step: int) -> None:
        images = images_from_batch(data_batch, self.to_rgb)
        first, self._seen = self._seen, self._seen + len(outputs)
        for index, (image, sample) in enumerate(zip(images, outputs), first):
            name = sample_name(sample, index)
            if self._gallery is not None:
                self._gallery.add(image, sample.pred_part_map, name)
            if index % self.interval == 0 and is_main_process():
                self._save(
                    runner, f'parts_{name}',
                    self._drawer.draw_part_sample(image, sample,
                                                  self.num_parts, name), step)

    def after_val_epoch(self, runner, metrics=None) -> None:
        self._save_galleries(runner, training_step(runner))

    def after_test_epoch(self, runner, metrics=None) -> None:
        self._save_galleries(runner, 0)

    def _save_galleries(self, runner, step: int) -> None:
        if self._gallery is None:
            return
        self._gallery.gather()
        if is_main_process():
            for part in range(self.num_parts):
                self._save(
                    runner, f'gallery_part_{part}',
                    self._drawer.draw_part_gallery(part,
                                                   self._gallery.top(part),
                                                   self.num_parts), step)
        self._gallery = None

    def _save(self, runner, name: str, image: np.ndarray, step: int) -> None:
        if self.out_dir is None:
            runner.visualizer.add_image(name, image, step=step)
        else:
            mmcv.imwrite(image[..., ::-1],
                         osp.join(self.out_dir, f'{name}_{step}.png'))
