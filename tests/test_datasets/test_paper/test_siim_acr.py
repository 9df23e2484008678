# Copyright (c) ifam_mm contributors. All rights reserved.
import importlib.util
import os
import os.path as osp
import pickle
import sys
from unittest import mock

import cv2
import numpy as np
import pytest
import torch
from fixtures import build, packed, write_image, write_text
from mmengine.evaluator import Evaluator

from ifam_mm.datasets.paper import has_pydicom, read_dicom
from ifam_mm.evaluation import GroupAUROC
from mmpretrain.registry import DATASETS

TOOL = osp.join(
    osp.dirname(osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))),
    'tools', 'dataset_converters', 'prepare_siim_acr.py')
KEYS = ('group_label', 'spurious_label', 'img_id', 'seg_map_path')
# Test images: id -> (label, tube). r* conflict (robust), n* align.
TEST_IMAGES = {'r0': (0, 1), 'n0': (0, 0), 'r1': (1, 0), 'n1': (1, 1)}


def load_tool():
    spec = importlib.util.spec_from_file_location('prepare_siim_acr', TOOL)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def make_prepared(root):
    """Write the prepared PNG layout that SIIMACR reads."""
    for i in range(6):
        write_image(osp.join(root, 'train_set', str(i // 3), f't{i}.png'))
        write_image(osp.join(root, 'all_masks', f't{i}.png'), gray=True)
    for image_id, (label, tube) in TEST_IMAGES.items():
        subset = 'robust' if image_id[0] == 'r' else 'non_robust'
        for folder in ('full_test_set', f'{subset}_test_set'):
            write_image(osp.join(root, folder, str(label), f'{image_id}.png'))
        write_image(osp.join(root, 'all_masks', f'{image_id}.png'), gray=True)
    return str(root)


def test_test_sets_carry_tube_groups(tmp_path):
    root = make_prepared(tmp_path)
    data = dict(
        type='SIIMACR',
        data_root=root,
        data_prefix=dict(seg_map_path='all_masks'))
    samples = packed(build(KEYS, split='test', **data))
    assert [s.img_id for s in samples] == ['n0', 'r0', 'n1', 'r1']
    for s in samples:
        label, tube = TEST_IMAGES[s.img_id]
        assert (int(s.gt_label), s.spurious_label) == (label, tube)
        assert s.group_label == 2 * label + tube
        assert s.seg_map_path == osp.join(root, 'all_masks', f'{s.img_id}.png')
    robust = packed(build(KEYS, split='robust_test', **data))
    assert [s.group_label for s in robust] == [1, 2]


def test_train_split_has_no_tube_label(tmp_path):
    root = make_prepared(tmp_path)
    data = dict(type='SIIMACR', data_root=root, val_fraction=1 / 3)
    val = packed(build(KEYS, split='val', **data))
    train = packed(build(KEYS, split='train', **data))
    assert sorted(int(s.gt_label) for s in val) == [0, 1]
    assert len(train) == 4
    assert not {s.img_id for s in val} & {s.img_id for s in train}
    assert 'group_label' not in val[0] and 'spurious_label' not in val[0]
    # So GroupAUROC reports the overall AUROC without asking for groups.
    evaluator = Evaluator(GroupAUROC())
    evaluator.dataset_meta = build(split='val', **data).metainfo
    for s in val:  # the negative ranked above the positive: AUROC 0
        positive_score = 0.2 if s.gt_label else 0.7
        s.set_pred_score(torch.tensor([1 - positive_score, positive_score]))
    evaluator.process(val)
    assert evaluator.evaluate(2) == {'auroc/all': 0.}


def test_unknown_tube_is_an_error(tmp_path):
    root = make_prepared(tmp_path)
    os.remove(osp.join(root, 'non_robust_test_set', '0', 'n0.png'))
    with pytest.raises(ValueError, match=r'n0.png is in neither'):
        build(type='SIIMACR', data_root=root, split='test')


def make_kaggle(root, write_dicom):
    """Kaggle files: train-rle.csv and dicom-images-train/**/<id>.dcm."""
    write_text(
        osp.join(root, 'kaggle', 'train-rle.csv'), [
            'ImageId, EncodedPixels', 'a, -1', 'b, 2 3', 'b, 7 1', 'c, -1',
            'd, 0 2 3 1', 'e, -1', 'f, 1 1', 'g, -1'
        ])
    for image_id in 'abcdefh':  # g has no DICOM, h no label
        path = osp.join(root, 'kaggle', 'dicom-images-train', f'1.{image_id}',
                        '2', f'{image_id}.dcm')
        os.makedirs(osp.dirname(path))
        write_dicom(path, np.full((4, 3), ord(image_id), np.uint8))
    tubes = {'a': np.int64(1), 'b': 1, 'c': 0, 'd': 0, 'z': 1}
    with open(osp.join(root, 'tubes.pkl'), 'wb') as f:
        pickle.dump(tubes, f)
    return osp.join(root, 'kaggle'), osp.join(root, 'tubes.pkl')


def fake_dicom(path, pixels):
    # The copy mode never parses the files.
    with open(path, 'wb') as f:
        f.write(b'not parsed')


def test_prepare_tool_builds_the_sets(tmp_path):
    kaggle, tubes = make_kaggle(tmp_path, fake_dicom)
    out = str(tmp_path / 'out')
    counts = load_tool().main([kaggle, tubes, out, '--mask-size', '4', '3'])
    assert counts == {
        'full_test_set/0': 2,
        'full_test_set/1': 2,
        'robust_test_set/0': 1,
        'robust_test_set/1': 1,
        'non_robust_test_set/0': 1,
        'non_robust_test_set/1': 1,
        'train_set/0': 1,
        'train_set/1': 1,
        'skipped_no_dicom': 1,
        'skipped_tube_id_unlabelled': 1,
        'skipped_dicom_unlabelled': 1
    }
    assert osp.isfile(osp.join(out, 'robust_test_set', '0', 'a.dcm'))
    assert osp.isfile(osp.join(out, 'robust_test_set', '1', 'd.dcm'))
    assert osp.isfile(osp.join(out, 'train_set', '1', 'f.dcm'))
    # Column-major runs with relative offsets; b's two rows are merged.
    mask_b = cv2.imread(osp.join(out, 'all_masks', 'b.png'), 0) // 255
    expected = np.zeros((4, 3), np.uint8)
    expected[[2, 3, 0, 3], [0, 0, 1, 1]] = 1
    np.testing.assert_array_equal(mask_b, expected)
    mask_d = cv2.imread(osp.join(out, 'all_masks', 'd.png'), 0) // 255
    expected[:] = 0
    expected[[0, 1, 1], [0, 0, 1]] = 1
    np.testing.assert_array_equal(mask_d, expected)

    dataset = DATASETS.build(dict(type='SIIMACR', data_root=out, split='test'))
    groups = {
        dataset.get_data_info(i)['img_id']:
        dataset.get_data_info(i)['group_label']
        for i in range(len(dataset))
    }
    assert groups == {'a': 1, 'b': 3, 'c': 0, 'd': 2}

    with pytest.raises(FileExistsError, match='is not empty'):
        load_tool().main([kaggle, tubes, out])


def test_prepare_tool_refuses_code_in_the_pickle(tmp_path):
    kaggle, _ = make_kaggle(tmp_path, fake_dicom)

    class Payload:

        def __reduce__(self):
            return os.system, ('echo unsafe', )

    with open(tmp_path / 'evil.pkl', 'wb') as f:
        pickle.dump({'a': Payload()}, f)
    with pytest.raises(pickle.UnpicklingError, match='system is not allowed'):
        load_tool().main(
            [kaggle, str(tmp_path / 'evil.pkl'),
             str(tmp_path / 'out')])


def test_dicom_without_pydicom_names_the_fix(tmp_path):
    with mock.patch.dict(sys.modules, {'pydicom': None}):
        with pytest.raises(ImportError, match='pip install pydicom'):
            read_dicom(str(tmp_path / 'x.dcm'))


def write_dicom(path, pixels):
    """An 8-bit greyscale DICOM file, like SIIM-ACR's."""
    from pydicom.dataset import Dataset, FileMetaDataset
    from pydicom.uid import (ExplicitVRLittleEndian,
                             SecondaryCaptureImageStorage, generate_uid)
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = SecondaryCaptureImageStorage
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = Dataset()
    ds.file_meta = meta
    ds.SOPClassUID = meta.MediaStorageSOPClassUID
    ds.SOPInstanceUID = meta.MediaStorageSOPInstanceUID
    ds.Rows, ds.Columns = pixels.shape
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = 'MONOCHROME2'
    ds.BitsAllocated = ds.BitsStored = 8
    ds.HighBit = 7
    ds.PixelRepresentation = 0
    ds.PixelData = pixels.tobytes()
    ds.save_as(path, enforce_file_format=True)


@pytest.mark.skipif(not has_pydicom(), reason='pydicom is optional')
@pytest.mark.parametrize('fmt', ['dcm', 'png'])
def test_dicom_end_to_end(tmp_path, fmt):
    kaggle, tubes = make_kaggle(tmp_path, write_dicom)
    out = str(tmp_path / 'out')
    load_tool().main([kaggle, tubes, out, '--format', fmt])
    dataset = DATASETS.build(
        dict(
            type='SIIMACR',
            data_root=out,
            split='robust_test',
            pipeline=[
                dict(type='LoadDicomFromFile'),
                dict(type='PackInputs', algorithm_keys=KEYS)
            ]))
    assert dataset.get_data_info(0)['img_path'].endswith(f'a.{fmt}')
    item = dataset[0]
    assert tuple(item['inputs'].shape) == (3, 4, 3)
    assert (item['inputs'] == ord('a')).all()
    assert item['data_samples'].group_label == 1
