# Copyright (c) ifam_mm contributors. All rights reserved.
"""Loading a file never runs code from it (issue 8, item 5).

Every file here carries a payload that would create ``marker`` if it ran:
checkpoints (tools/test.py, --resume), pretrained ViT weights, the shipped
animal silhouettes, a SIIM-ACR chest-tube label pickle, a token-threshold
file and a dataset annotation. Each is refused and the marker never
appears. Lower-level tests: tests/test_stack_fixes.py (the checkpoint
allow-list), tests/test_datasets/test_spurious_shapes.py (the silhouette
reader), tests/test_datasets/test_paper/test_siim_acr.py (the tube-label
unpickler).
"""
import gzip
import importlib.util
import os
import os.path as osp
import pickle

import cv2
import numpy as np
import pytest
import torch
from mmengine.runner import Runner

from ifam_mm.datasets.spurious_shapes import animals
from mmpretrain.registry import DATASETS, MODELS

REPO_ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))


class RunsCode:
    """Unpickling it runs ``touch <path>``."""

    def __init__(self, path):
        self.path = str(path)

    def __reduce__(self):
        return (os.system, (f'touch {self.path}', ))


@pytest.fixture
def marker(tmp_path):
    path = tmp_path / 'code_ran'
    yield path
    assert not path.exists(), 'the payload ran'


def test_the_payload_runs_when_unpickled(tmp_path, marker):
    # The control: the payload of the tests below does run if unpickled.
    pickle.loads(pickle.dumps(RunsCode(tmp_path / 'control')))
    assert (tmp_path / 'control').exists()


@pytest.mark.parametrize('entry', ['tools/test.py', '--resume'])
def test_checkpoint_that_runs_code_is_refused(tmp_path, toy_root, toy_config,
                                              marker, entry):
    evil = str(tmp_path / 'evil.pth')
    torch.save(
        dict(meta=dict(epoch=1), state_dict={}, payload=RunsCode(marker)),
        evil)
    cfg = toy_config(tmp_path / 'work', toy_root, load_from=evil)
    with pytest.raises(pickle.UnpicklingError,
                       match=r'Weights only load failed(.|\n)*'
                       r'GLOBAL (posix|nt)\.system'):
        if entry == '--resume':
            cfg.resume = True
            Runner.from_cfg(cfg).train()
        else:
            Runner.from_cfg(cfg).test()


def test_pretrained_weights_that_run_code_are_refused(tmp_path, toy_root,
                                                      toy_config, marker):
    evil = str(tmp_path / 'evil_vit.pth')
    torch.save(dict(payload=RunsCode(marker)), evil)
    cfg = toy_config(tmp_path, toy_root, 'hardmask',
                     **{'model.backbone.pretrained': evil})
    model = MODELS.build(cfg.model)
    # timm's loader (weights_only=True) words the refusal itself.
    with pytest.raises(RuntimeError,
                       match=r'weights_only=True blocked loading .*'
                       r'Unsupported globals: (posix|nt)\.system'):
        model.init_weights()  # what the Runner calls before training


@pytest.fixture
def evil_silhouettes(tmp_path, marker, monkeypatch):
    """The animal-silhouette files replaced by pickles that run code."""
    for name in ('animal_data_version_3.gz', 'animal_label_version_3.gz'):
        with gzip.open(tmp_path / name, 'wb') as f:
            pickle.dump((np.zeros(4, np.uint8), RunsCode(marker)), f)
    monkeypatch.setattr(animals, '_data_dir', lambda: str(tmp_path))
    animals.load_animal_silhouettes.cache_clear()
    yield
    animals.load_animal_silhouettes.cache_clear()


def test_silhouettes_that_run_code_are_refused(tmp_path, evil_silhouettes):
    # The silhouettes are read when SpuriousShapes generates its data.
    with pytest.raises(ValueError, match='refusing to read it'):
        DATASETS.build(
            dict(
                type='SpuriousShapes',
                data_root=str(tmp_path / 'data'),
                split='test',
                fg_source='animals',
                pipeline=[]))


def load_siim_tool():
    path = osp.join(REPO_ROOT, 'tools', 'dataset_converters',
                    'prepare_siim_acr.py')
    spec = importlib.util.spec_from_file_location('prepare_siim_acr', path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_tube_label_pickle_that_runs_code_is_refused(tmp_path, marker):
    kaggle = tmp_path / 'kaggle'
    os.makedirs(kaggle / 'dicom-images-train')
    (kaggle / 'train-rle.csv').write_text('ImageId, EncodedPixels\na, -1\n')
    tubes = tmp_path / 'cxr_tube_dict.pkl'
    tubes.write_bytes(pickle.dumps({'a': 1, 'b': RunsCode(marker)}))
    with pytest.raises(pickle.UnpicklingError, match='system is not allowed'):
        load_siim_tool().main([str(kaggle), str(tubes), str(tmp_path / 'out')])


def test_threshold_file_is_parsed_not_evaluated(tmp_path, toy_root,
                                                toy_config, marker):
    path = tmp_path / 'thresholds.json'
    path.write_text(f"__import__('os').system('touch {marker}')\n")
    cfg = toy_config(tmp_path / 'work', toy_root,
                     **{'model.test_cfg.token_thresholds': str(path)})
    with pytest.raises(ValueError, match='is not valid JSON'):
        Runner.from_cfg(cfg).test()


def test_annotation_file_is_parsed_not_evaluated(tmp_path, marker):
    root = tmp_path / 'waterbirds'
    os.makedirs(root / 'a')
    cv2.imwrite(str(root / 'a' / '1.jpg'), np.zeros((4, 4, 3), np.uint8))
    code = f"__import__('os').system('touch {marker}')"
    (root / 'metadata.csv').write_text(
        f'img_id,img_filename,y,split,place\n0,a/1.jpg,{code},2,0\n')
    with pytest.raises(ValueError, match='column y: .* is not an integer'):
        DATASETS.build(
            dict(type='Waterbirds', data_root=str(root), split='test'))
