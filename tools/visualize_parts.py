# Copyright (c) ifam_mm contributors. All rights reserved.
"""Write part-map overlays and per-part galleries of a split.

    python tools/visualize_parts.py CONFIG CKPT --out-dir DIR
        [--split train|val|test] [--num-images N] [--gallery-size M]
        [--remove-parts P ...] [--token-thresholds FILE]
        [--cfg-options k=v ...]

Writes ``DIR/parts_<dataset index>_<stem>_0.png`` for the first N images
(``[image | parts | stage-2 input]``) and ``DIR/gallery_part_<k>_0.png``
for every part (the M images where it covers most tokens); also to the
config's TensorBoard backend when tensorboard is installed. See
docs/visual_audit.md.
"""
import argparse
import copy
import importlib.util
import os.path as osp
import sys

# Make `import ifam_mm` work from a checkout without installing the package.
sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))
import ifam_mm  # noqa: E402,F401  (stack fixes before anything else)
import torch  # noqa: E402
from mmengine.config import Config, DictAction  # noqa: E402
from mmengine.logging import print_log  # noqa: E402
from mmengine.registry import init_default_scope  # noqa: E402
from mmengine.runner import Runner, load_checkpoint  # noqa: E402
from mmengine.utils import ProgressBar  # noqa: E402

from ifam_mm.interventions.config import set_interventions  # noqa: E402
from ifam_mm.visualization import (  # noqa: E402
    PartGallery, images_from_batch, num_parts_of, sample_name)
from mmpretrain.registry import MODELS, VISUALIZERS  # noqa: E402


def parse_args():
    parser = argparse.ArgumentParser(
        description='Part-map overlays and per-part galleries of a split')
    parser.add_argument('config', help='config file path')
    parser.add_argument('checkpoint', help='checkpoint file')
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
        '--cfg-options',
        nargs='+',
        action=DictAction,
        help='override config settings, as in tools/test.py')
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


def main():
    args = parse_args()
    cfg = Config.fromfile(args.config)
    if args.cfg_options is not None:
        cfg.merge_from_dict(args.cfg_options)
    set_interventions(cfg, args.remove_parts, args.token_thresholds)
    init_default_scope(cfg.get('default_scope', 'mmpretrain'))

    # As mmengine's Runner does: the top-level data_preprocessor (mean,
    # std, to_rgb) joins the model unless the model sets its own.
    if cfg.get('data_preprocessor') is not None:
        cfg.model.setdefault('data_preprocessor', cfg.data_preprocessor)
    model = MODELS.build(cfg.model)
    load_checkpoint(model, args.checkpoint, map_location='cpu')
    model.to('cuda' if torch.cuda.is_available() else 'cpu').eval()
    num_parts = num_parts_of(model)
    to_rgb = bool(getattr(model.data_preprocessor, 'to_rgb', False))

    dataloader = build_dataloader(cfg, args.split)
    visualizer = build_visualizer(cfg, args.out_dir)
    visualizer.dataset_meta = dataloader.dataset.metainfo
    gallery = (
        PartGallery(num_parts, args.gallery_size)
        if args.gallery_size else None)

    progress = ProgressBar(len(dataloader.dataset))
    index = 0
    with torch.no_grad():
        for data_batch in dataloader:
            outputs = model.test_step(data_batch)
            images = images_from_batch(data_batch, to_rgb)
            for image, sample in zip(images, outputs):
                name = sample_name(sample, index)
                if gallery is not None:
                    gallery.add(image, sample.pred_part_map, name)
                if index < args.num_images:
                    visualizer.add_image(
                        f'parts_{name}',
                        visualizer.draw_part_sample(image, sample, num_parts,
                                                    name))
                index += 1
            progress.update(len(outputs))
    if gallery is not None:
        for part in range(num_parts):
            visualizer.add_image(
                f'gallery_part_{part}',
                visualizer.draw_part_gallery(part, gallery.top(part),
                                             num_parts))
    print_log(
        f'\nWrote {min(index, args.num_images)} overlays and '
        f'{num_parts if gallery else 0} part galleries of the '
        f'{args.split} split ({index} images) to {args.out_dir}',
        logger='current')


if __name__ == '__main__':
    main()
