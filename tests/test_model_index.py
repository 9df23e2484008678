# Copyright (c) ifam_mm contributors. All rights reserved.
"""model-index.yml and the metafiles list every shipped config, honestly."""
import glob
import os.path as osp
import re

import yaml

REPO_ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
DEMO_ROW = re.compile(r'^\| `(\w+)`: .*? \| (\d+) \| ([\d.]+) ± [\d.]+ \| '
                      r'([\d.]+) ± [\d.]+ \|')
# docs/demo.md's row name -> the config that row measures.
DEMO_CONFIGS = dict(
    erm='erm_vit-tiny-p8_2xb16_spurious-shapes',
    pdiscoformer='pdiscoformer-k8_vit-tiny-p8_2xb16_spurious-shapes',
    ifam='ifam-k8-st_vit-tiny-p8_2xb16_spurious-shapes',
    ifam_no_st='ifam-k8_vit-tiny-p8_2xb16_spurious-shapes',
    oracle_mask='oracle-mask_vit-tiny-p8_2xb16_spurious-shapes',
    pixel_mask='pixel-mask_vit-tiny-p8_2xb16_spurious-shapes')


def load(path):
    with open(osp.join(REPO_ROOT, path)) as f:
        return yaml.safe_load(f)


def models():
    return [
        model for metafile in load('model-index.yml')['Import']
        for model in load(metafile)['Models']
    ]


def test_one_metafile_per_config_folder():
    folders = {
        osp.dirname(path) for path in load('model-index.yml')['Import']
    }
    config_folders = {
        osp.relpath(path, REPO_ROOT)
        for path in glob.glob(osp.join(REPO_ROOT, 'configs', '*', ''))
    }
    assert {f.rstrip('/') for f in config_folders} - {'configs/_base_'} == \
        folders


def test_every_shipped_config_is_listed_once():
    listed = [model['Config'] for model in models()]
    shipped = sorted(
        osp.relpath(path, REPO_ROOT)
        for path in glob.glob(
            osp.join(REPO_ROOT, 'configs', '**', '*.py'), recursive=True)
        if '_base_' not in path)
    assert sorted(listed) == shipped
    for model in models():
        assert model['Name'] == osp.splitext(osp.basename(model['Config']))[0]


def test_results_are_measured_or_marked_not_measured():
    # Every model names its task (mmpretrain's inference_model picks the
    # inferencer by it); only measured ones carry metrics.
    for model in models():
        tasks = {result['Task'] for result in model['Results']}
        assert tasks == {'Image Classification'}, model['Name']
        has_metrics = any('Metrics' in r for r in model['Results'])
        assert model['Measured'] == has_metrics, model['Name']


def test_metafile_results_are_the_demo_table():
    demo = {}
    with open(osp.join(REPO_ROOT, 'docs', 'demo.md')) as f:
        for line in f:
            match = DEMO_ROW.match(line)
            if match:
                name, seeds, wga, acc = match.groups()
                demo[name] = (int(seeds), float(wga), float(acc))
    assert set(DEMO_CONFIGS) <= set(demo)
    by_name = {model['Name']: model for model in models()}
    for row, config in DEMO_CONFIGS.items():
        result = by_name[config]['Results'][0]
        seeds, wga, acc = demo[row]
        assert result['Seeds'] == seeds, row
        assert result['Metrics']['Worst-group Accuracy'] == round(
            wga * 100, 1), row
        assert result['Metrics']['Average Accuracy'] == round(acc * 100,
                                                              1), row
