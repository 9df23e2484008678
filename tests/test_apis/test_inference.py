# Copyright (c) ifam_mm contributors. All rights reserved.
"""mmpretrain's stock inference API on every shipped config family."""
import numpy as np
import pytest
import torch
from mmengine.config import Config

import ifam_mm  # noqa: F401  (registers the components)
from mmpretrain import ImageClassificationInferencer
from mmpretrain.apis import get_model

TOY_IFAM = 'configs/ifam/ifam_vit-tiny-p8_1xb16_toy.py'
TOY_HARDMASK = 'configs/hardmask_vit/hardmask-vit-tiny-p8_1xb16_toy.py'
SHAPES_IFAM = 'configs/spurious_shapes/ifam-k8_vit-tiny-p8_2xb16_spurious-shapes.py'
SHAPES_PIXEL_MASK = (
    'configs/spurious_shapes/pixel-mask_vit-tiny-p8_2xb16_spurious-shapes.py')


def _checkpoint(config, tmp_path):
    """A checkpoint of the config's (untrained) model with class names."""
    model = get_model(config, device='cpu')
    cfg = Config.fromfile(config)
    preprocessor = cfg.model.get('data_preprocessor') or cfg.data_preprocessor
    classes = [f'class{i}' for i in range(preprocessor.num_classes)]
    path = tmp_path / 'model.pth'
    torch.save(dict(state_dict=model.state_dict(),
                    meta=dict(dataset_meta=dict(classes=classes))), path)
    return str(path), classes


def _images(rng, size):
    """A colour, a grayscale and a BGRA image (odd sizes unless fixed)."""
    h, w = size or (37, 53)
    return [rng.integers(0, 256, (h, w, 3), dtype=np.uint8),
            rng.integers(0, 256, size or (41, 40), dtype=np.uint8),
            rng.integers(0, 256, (*(size or (50, 31)), 4), dtype=np.uint8)]


@pytest.mark.parametrize('config,size,has_parts', [
    (TOY_IFAM, None, True),
    (TOY_HARDMASK, None, False),
    # Its test pipeline has no resize: the benchmark's images are 64 x 64.
    (SHAPES_IFAM, (64, 64), True),
])
def test_inferencer_on_arrays_and_paths(config, size, has_parts, tmp_path):
    import cv2
    ckpt, classes = _checkpoint(config, tmp_path)
    inferencer = ImageClassificationInferencer(config, pretrained=ckpt,
                                               device='cpu')
    images = _images(np.random.default_rng(0), size)
    path = str(tmp_path / 'img.png')
    cv2.imwrite(path, images[0])

    results = inferencer(images + [path], return_datasamples=True)
    assert len(results) == 4
    for sample in results:
        assert 0 <= int(sample.pred_label) < len(classes)
        assert sample.pred_score.shape == (len(classes), )
        assert ('pred_part_map' in sample) == has_parts
        assert ('pred_token_mask' in sample) == has_parts
    if has_parts:
        part_map, keep = results[0].pred_part_map, results[0].pred_token_mask
        assert part_map.shape == keep.shape and part_map.ndim == 2
        # Id K is background: kept tokens are exactly the foreground ones.
        background = inferencer.model.part_head.num_parts
        assert torch.equal(torch.as_tensor(keep).bool(),
                           torch.as_tensor(part_map) != background)
    # The path and the array it was written from give the same prediction.
    torch.testing.assert_close(results[3].pred_score, results[0].pred_score)

    dicts = inferencer(images[0])
    assert dicts[0]['pred_class'] in classes


def test_pixel_mask_model_on_a_bare_image_says_why(tmp_path):
    ckpt, _ = _checkpoint(SHAPES_PIXEL_MASK, tmp_path)
    inferencer = ImageClassificationInferencer(
        SHAPES_PIXEL_MASK, pretrained=ckpt, device='cpu')
    image = np.zeros((64, 64, 3), np.uint8)
    with pytest.raises(KeyError, match='has no mask|dataset'):
        inferencer(image)


def test_undecodable_array_is_refused_with_the_fix(tmp_path):
    inferencer = ImageClassificationInferencer(TOY_HARDMASK, device='cpu')
    with pytest.raises(TypeError, match='astype'):
        inferencer(np.zeros((32, 32, 3), np.float32))


def test_model_hub_names_work_with_inference_model(tmp_path):
    from mmpretrain import list_models
    from mmpretrain.apis import inference_model

    from ifam_mm.apis import register_ifam_models
    register_ifam_models()
    register_ifam_models()  # once: the hub refuses a name twice
    name = 'ifam-k8_vit-tiny-p8_2xb16_spurious-shapes'
    assert name in list_models('ifam*')
    ckpt, classes = _checkpoint(SHAPES_IFAM, tmp_path)
    image = np.random.default_rng(1).integers(0, 256, (64, 64, 3), np.uint8)

    result = inference_model(name, image, pretrained=ckpt, device='cpu')
    # inference_model takes hub names only; a config path goes to the
    # inferencer (or get_model) directly.
    by_path = ImageClassificationInferencer(
        SHAPES_IFAM, pretrained=ckpt, device='cpu')(image)[0]
    assert result['pred_class'] in classes
    assert result['pred_scores'] == pytest.approx(by_path['pred_scores'])
    model = get_model(name, pretrained=ckpt, device='cpu')
    assert model.part_head.num_parts == 8
