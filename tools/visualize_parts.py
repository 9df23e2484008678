# Copyright (c) ifam_mm contributors. All rights reserved.
"""Write part-map overlays and per-part galleries of a split.

    python tools/visualize_parts.py CONFIG CKPT --out-dir DIR
        [--split train|val|test] [--num-images N] [--gallery-size M]
        [--remove-parts P ...] [--token-thresholds FILE]
        [--work-dir DIR] [--cfg-options k=v ...] [--html]

Writes ``DIR/parts_<dataset index>_<stem>_0.png`` for the first N images
(``[image | parts | stage-2 input]``) and ``DIR/gallery_part_<k>_0.png``
for every part (the M images where it covers most tokens); also to the
config's TensorBoard backend when tensorboard is installed. ``--html`` also
writes the overlay of every gallery image and ``DIR/index.html``, a page of
the galleries whose thumbnails link to those overlays. The model is the one
the test loop evaluates (EMA weights where the config has an EMAHook). See
docs/visual_audit.md.
"""
import argparse
import copy
import importlib.util
import os.path as osp

import torch
from mmengine.config import Config
from mmengine.logging import print_log
from mmengine.runner import Runner
from mmengine.utils import ProgressBar

from ifam_mm.engine.distributed import release_process_group
from ifam_mm.engine.runner_utils import (
    add_checkpoint_arguments, checkpoint_runner, evaluated_model,
    load_tool_config)
from ifam_mm.interventions.config import set_interventions
from ifam_mm.visualization import (PartGallery, images_from_batch,
                                   num_parts_of, sample_name,
                                   write_html_report)
from mmpretrain.registry import VISUALIZERS


def parse_args():
    parser = argparse.ArgumentParser(
        description='Part-map overlays and per-part galleries of a split')
    add_checkpoint_arguments(parser)
    parser.add_argument(
        '--out-dir', required=True, help='where to write the PNGs')
    parser.add_argument(
        '--split',
        choices=['train', 'val', 'test'],
        default='val',
        help='split to draw (train reads the test pipeline, unshuffled)')
    parser.add_argument(
        '--num-images',
        type=int,
        default=16,
        help='overlays for the first N images of the split')
    parser.add_argument(
        '--gallery-size',
        type=int,
        default=8,
        help='images per part gallery (0: no galleries)')
    parser.add_argument(
        '--remove-parts',
        type=int,
        nargs='+',
        metavar='PART',
        help='iFAM: sets model.test_cfg.remove_parts')
    parser.add_argument(
        '--token-thresholds',
        metavar='FILE',
        help='iFAM: sets model.test_cfg.token_thresholds')
    parser.add_argument(
        '--html',
        action='store_true',
        help='also write the overlay of every gallery image and '
        'DIR/index.html, a page of the galleries linking to them')
    args = parser.parse_args()
    for flag in ('num_images', 'gallery_size'):
        if getattr(args, flag) < 0:
            parser.error(f"--{flag.replace('_', '-')} must be >= 0.")
    return args


def build_dataloader(cfg: Config, split: str):
    dataloader = copy.deepcopy(cfg[f'{split}_dataloader'])
    if split == 'train':
        # Drawn as evaluated: no augmentation, in dataset order.
        dataloader.dataset.pipeline = copy.deepcopy(
            cfg.test_dataloader.dataset.pipeline)
        dataloader.sampler = dict(type='DefaultSampler', shuffle=False)
    return Runner.build_dataloader(dataloader)


def build_visualizer(cfg: Config, out_dir: str):
    # LocalVisBackend writes <save_dir>/<img_save_dir>/<name>_<step>.png.
    backends = [
        dict(type='LocalVisBackend', save_dir=out_dir, img_save_dir='.')
    ]
    for backend in cfg.get('vis_backends') or []:
        if backend.get('type') != 'TensorboardVisBackend':
            continue
        if importlib.util.find_spec('tensorboard') is None:
            print_log(
                'The config has a TensorboardVisBackend but tensorboard is '
                'not installed (pip install tensorboard); writing PNGs '
                'only.',
                logger='current',
                level='WARNING')
        else:
            backends.append(dict(backend, save_dir=out_dir))
    return VISUALIZERS.build(
        dict(
            type='PartMapVisualizer',
            name='visualize_parts',
            vis_backends=backends))


def draw(model, cfg: Config, args):
    """Overlays of the first images and the part galleries, and with
    ``--html`` the page; returns the number of images, of overlays and of
    galleries drawn."""
    num_parts = num_parts_of(model)
    to_rgb = bool(getattr(model.data_preprocessor, 'to_rgb', False))
    dataloader = build_dataloader(cfg, args.split)
    visualizer = build_visualizer(cfg, args.out_dir)
    visualizer.dataset_meta = dataloader.dataset.metainfo
    gallery = (
        PartGallery(num_parts, args.gallery_size)
        if args.gallery_size else None)
    # --html: image and prediction of every current gallery member (at most
    # K x M), since the members are only known once the split is read.
    members = {}
    overlays = []

    def draw_overlay(image, sample, name):
        visualizer.add_image(
            f'parts_{name}',
            visualizer.draw_part_sample(image, sample, num_parts, name))
        overlays.append(name)

    progress = ProgressBar(len(dataloader.dataset))
    index = 0
    for data_batch in dataloader:
        outputs = model.test_step(data_batch)
        images = images_from_batch(data_batch, to_rgb)
        for image, sample in zip(images, outputs):
            name = sample_name(sample, index)
            if index < args.num_images:
                draw_overlay(image, sample, name)
            if gallery is not None:
                gallery.add(image, sample.pred_part_map, name)
                if args.html:
                    members[name] = (image, sample.cpu())
                    kept = gallery.names()
                    members = {k: v for k, v in members.items() if k in kept}
            index += 1
        progress.update(len(outputs))
    first = list(overlays)
    if gallery is not None:
        for part in range(num_parts):
            visualizer.add_image(
                f'gallery_part_{part}',
                visualizer.draw_part_gallery(part, gallery.top(part),
                                             num_parts))
        drawn = set(first)
        for name, (image, sample) in members.items():
            if name not in drawn:
                draw_overlay(image, sample, name)
    if args.html:
        write_page(args, gallery, num_parts, first)
    return index, len(overlays), num_parts if gallery is not None else 0


def write_page(args, gallery, num_parts: int, first: list) -> None:
    """``DIR/index.html``: each part's gallery, then the first images, as
    thumbnails linking to the overlays."""

    def overlay(name):
        # LocalVisBackend's file of add_image(f'parts_{name}') at step 0.
        return osp.join(args.out_dir, f'parts_{name}_0.png')

    galleries = []
    for part in range(num_parts if gallery is not None else 0):
        galleries.append(
            (f'part {part}: the images where it covers most tokens',
             [(overlay(item.name), f'{item.fraction:.0%} {item.name}')
              for item in gallery.top(part)]))
    galleries.append((f'the first images of the split ({len(first)})',
                      [(overlay(name), name) for name in first]))
    text = [
        f'Checkpoint {args.checkpoint}. Each thumbnail links to the full '
        'overlay of its image: [image | parts | stage-2 input].'
    ]
    if args.remove_parts or args.token_thresholds:
        text.append(f'Interventions: remove_parts={args.remove_parts}, '
                    f'token_thresholds={args.token_thresholds}.')
    write_html_report(
        osp.join(args.out_dir, 'index.html'),
        f'Part maps of the {args.split} split: {osp.basename(args.config)}',
        text=text,
        galleries=galleries)


def main():
    args = parse_args()
    cfg = load_tool_config(args.config, args.cfg_options, args.work_dir)
    set_interventions(cfg, args.remove_parts, args.token_thresholds)
    with checkpoint_runner(cfg, args.checkpoint) as runner, \
            evaluated_model(runner) as model, torch.no_grad():
        index, overlays, galleries = draw(model, cfg, args)
    page = ' and index.html' if args.html else ''
    print_log(
        f'\nWrote {overlays} overlays and {galleries} part galleries of the '
        f'{args.split} split ({index} images){page} to {args.out_dir}',
        logger='current')


if __name__ == '__main__':
    main()
    # ifam_mm: every rank is done; leave the group in step, once main()
    # has dropped its Runner (see release_process_group).
    release_process_group(barrier=True)
