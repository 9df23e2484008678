# Copyright (c) ifam_mm contributors. All rights reserved.
"""ifam_mm's configs under their model-index names in mmpretrain's hub."""
import os.path as osp

from mmpretrain.apis.model import ModelHub

from ..utils.config_parsing import prepare_config_parsing

PACKAGE_DIR = osp.dirname(osp.dirname(osp.abspath(__file__)))
_registered = False


def model_index_path() -> str:
    """The model index that names every shipped config.

    An installed package holds it in ``ifam_mm/.mim`` (with the configs it
    names, as mim expects); a source checkout at the repository root.

    Raises:
        FileNotFoundError: Neither exists.
    """
    candidates = [
        osp.join(PACKAGE_DIR, '.mim', 'model-index.yml'),
        osp.join(osp.dirname(PACKAGE_DIR), 'model-index.yml'),
    ]
    for path in candidates:
        if osp.isfile(path):
            return path
    raise FileNotFoundError(
        f'No model-index.yml at {" or ".join(candidates)}. Reinstall '
        'ifam_mm (pip install ifam_mm, or pip install -e . in its '
        'repository), which puts it under ifam_mm/.mim.')


def register_ifam_models() -> None:
    """Add ifam_mm's models to mmpretrain's model hub, once.

    Importing ifam_mm leaves the hub alone (it changes nothing outside
    itself); call this to use mmpretrain's name-based API on our configs:
    ``mmpretrain.list_models('ifam*')``, ``get_model(name,
    pretrained=CKPT)``, ``inference_model(name, img, pretrained=CKPT)``
    and ``ImageClassificationInferencer(name, pretrained=CKPT)``. No
    weights are published, so ``pretrained`` is a local checkpoint.

    It also lets mmengine parse our configs, as our tools do
    (:func:`~ifam_mm.utils.config_parsing.prepare_config_parsing`: the
    ``ifam_mm::`` prefix, and ``mmpretrain::`` bases where setuptools has
    no ``pkg_resources``), so that mmpretrain's API also takes our config
    files by path. Both changes are logged once.

    Examples:
        >>> from mmpretrain import list_models
        >>> from ifam_mm.apis import register_ifam_models
        >>> register_ifam_models()
        >>> 'ifam-k8_vit-tiny-p8_2xb16_spurious-shapes' in list_models()
        True
    """
    global _registered
    prepare_config_parsing()
    if _registered:
        return  # the hub refuses a name twice
    path = model_index_path()
    ModelHub.register_model_index(path, config_prefix=osp.dirname(path))
    _registered = True
