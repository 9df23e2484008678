# Copyright (c) ifam_mm contributors. All rights reserved.
"""Predict and explain images with a trained model (docs/inference.md).

    python demo/image_demo.py IMG CONFIG CKPT [--out-file F] [--show-parts]
        [--remove-parts P ...] [--token-thresholds FILE] [--device cpu]
"""
import copy
import os.path as osp
from argparse import ArgumentParser

import mmcv
import mmengine
import numpy as np
from mmengine.runner import load_checkpoint
from mmengine.utils import scandir

import ifam_mm  # noqa: F401  (registers the components)
from mmpretrain import ImageClassificationInferencer
from mmpretrain.apis import get_model
from ifam_mm.interventions.config import set_interventions
from ifam_mm.utils.config_parsing import prepare_config_parsing
from ifam_mm.utils.safe_loading import runner_checkpoint_loading
from ifam_mm.visualization import images_from_batch, num_parts_of
from ifam_mm.visualization.explanation import draw_explanation

IMAGE_SUFFIXES = ('.jpg', '.jpeg', '.png', '.bmp', '.tif', '.tiff', '.webp')


def parse_args():
    parser = ArgumentParser(description=__doc__)
    parser.add_argument('img', help='Image file, or a folder of images')
    parser.add_argument('config', help='Config file')
    parser.add_argument('checkpoint', help='Checkpoint file')
    parser.add_argument(
        '--out-file',
        help='Where to write the explanation picture (a folder when IMG is '
        'one)')
    parser.add_argument(
        '--show-parts',
        action='store_true',
        help='Print each image\'s part shares and kept-token share')
    parser.add_argument(
        '--remove-parts',
        type=int,
        nargs='+',
        metavar='PART',
        help='iFAM: also predict with these parts\' tokens hidden from '
        'stage 2 (as tools/test.py --remove-parts)')
    parser.add_argument(
        '--token-thresholds',
        metavar='FILE',
        help='iFAM: also predict with the thresholds of '
        'tools/calibrate_thresholds.py (as tools/test.py)')
    parser.add_argument('--device', default='cpu', help='cpu or cuda')
    parser.add_argument('--topk', type=int, default=5, help='Classes shown')
    return parser.parse_args()


def build_inferencer(config, checkpoint, device):
    """The inferencer, with the checkpoint loaded strictly."""
    if not osp.isfile(checkpoint):
        raise FileNotFoundError(
            f'Checkpoint {checkpoint!r} does not exist. Pass the .pth file '
            'that tools/train.py wrote into the work_dir.')
    prepare_config_parsing()  # as our tools: ifam_mm::, no pkg_resources
    model = get_model(config, device='cpu')
    try:
        with runner_checkpoint_loading():
            ckpt = load_checkpoint(
                model, checkpoint, map_location='cpu', strict=True,
                logger='silent')
    except RuntimeError as error:
        raise ValueError(
            f'Checkpoint {checkpoint!r} does not fit config {config!r} '
            f'(state dict keys or shapes differ):\n{error}\nPass the config '
            'the checkpoint was trained with (tools/train.py copies it '
            'into the work_dir).') from None
    meta = ckpt.get('meta', {}).get('dataset_meta')
    if meta:
        model._dataset_meta = meta
    return ImageClassificationInferencer(model, device=device)


def image_paths(img):
    if osp.isdir(img):
        names = sorted(scandir(img, suffix=IMAGE_SUFFIXES,
                               case_sensitive=False))
        if not names:
            raise FileNotFoundError(
                f'Folder {img!r} holds no image ({", ".join(IMAGE_SUFFIXES)}'
                '). Pass an image or a folder of images.')
        return [osp.join(img, name) for name in names]
    if not osp.isfile(img):
        raise FileNotFoundError(
            f'Image {img!r} does not exist. Pass an image file or a folder '
            'of images.')
    return [img]


def read_image(path):
    try:
        image = mmcv.imread(path)
    except Exception:  # noqa: BLE001  (any decoder error means the same)
        image = None
    if image is None:
        raise ValueError(
            f'Cannot decode image {path!r}. Pass a PNG, JPEG, BMP, TIFF '
            'or WebP file (re-save it with an image editor if it is '
            'damaged).')
    return image


def predict(inferencer, image):
    """The image as the model read it (RGB) and its DataSample."""
    batch = next(inferencer.preprocess([image]))
    to_rgb = bool(getattr(inferencer.model.data_preprocessor, 'to_rgb',
                          False))
    return (images_from_batch(batch, to_rgb)[0],
            inferencer.forward(batch)[0])


def top_k(sample, classes, k):
    scores = sample.pred_score.cpu().numpy()
    order = np.argsort(-scores, kind='stable')[:k]
    names = classes or [str(i) for i in range(len(scores))]
    return '\n'.join(f'  {names[i]}: {scores[i]:.4f}' for i in order)


def part_shares(sample, num_parts):
    part_map = sample.pred_part_map.cpu().numpy()
    shares = [f'{k}: {(part_map == k).mean():.0%}'
              for k in range(num_parts + 1)]
    shares[-1] = shares[-1].replace(f'{num_parts}:', 'background:')
    keep = sample.pred_token_mask.cpu().numpy().mean()
    return f'  parts {", ".join(shares)}; stage 2 kept {keep:.0%}'


def main():
    args = parse_args()
    paths = image_paths(args.img)
    inferencer = build_inferencer(args.config, args.checkpoint, args.device)
    model = inferencer.model
    intervening = (args.remove_parts is not None
                   or args.token_thresholds is not None)
    if intervening:
        cfg = copy.deepcopy(model._config)
        set_interventions(cfg, args.remove_parts, args.token_thresholds)
        plain_cfg = copy.deepcopy(model.test_cfg)
        intervened_cfg = {**plain_cfg, **cfg.model.test_cfg}
        name = ' '.join(
            ([f'--remove-parts {" ".join(map(str, args.remove_parts))}']
             if args.remove_parts is not None else []) +
            ([f'--token-thresholds {osp.basename(args.token_thresholds)}']
             if args.token_thresholds is not None else []))
    try:
        num_parts = num_parts_of(model)
    except TypeError:
        num_parts = None
    folder = osp.isdir(args.img)
    if folder and args.out_file:
        mmengine.mkdir_or_exist(args.out_file)
    progress = mmengine.ProgressBar(len(paths)) if folder else None

    for path in paths:
        bgr = read_image(path)
        image, sample = predict(inferencer, bgr)
        lines = [f'{path}:', top_k(sample, inferencer.classes, args.topk)]
        if args.show_parts and num_parts is not None:
            lines.append(part_shares(sample, num_parts))
        intervened = None
        if intervening:
            model.test_cfg = intervened_cfg
            try:
                intervened = predict(inferencer, bgr)[1]
            finally:
                model.test_cfg = plain_cfg
            lines += [f' after {name}:',
                      top_k(intervened, inferencer.classes, args.topk)]
            if args.show_parts:
                lines.append(part_shares(intervened, num_parts))
        print('\n'.join(lines))
        if args.out_file:
            out = (osp.join(args.out_file,
                            osp.splitext(osp.basename(path))[0] + '.png')
                   if folder else args.out_file)
            picture = draw_explanation(image, sample, num_parts,
                                       inferencer.classes, intervened, name
                                       if intervening else '')
            mmcv.imwrite(mmcv.rgb2bgr(picture), out)
        if progress:
            progress.update()


if __name__ == '__main__':
    main()
