"""Config errors fail when the run is built, before any iteration, naming the key: an unknown
``type``, a missing required key, ``num_classes`` not matching the dataset's labels."""
import os.path as osp
from types import SimpleNamespace

import pytest
from mmengine.config import Config
from reliability_helpers import (
    PYTHON,
    REPO_ROOT,
    TINY_CONFIG,
    data_options,
    run_tool,
    write_run_config,
)
from tool_helpers import load_tool

from point3d_mm.engine import NumClassesCheckHook
from point3d_mm.utils.config_checks import ConfigTypeError, check_cfg_types


def write_config(tmp_path, text: str) -> str:
    path = tmp_path / 'bad_config.py'
    path.write_text(f'_base_ = [{TINY_CONFIG!r}]\n' + text)
    return str(path)


def test_unknown_backbone_type_names_the_key(tmp_path):
    config = write_config(tmp_path, "model = dict(backbone=dict(type='HourglasBackbone'))\n")
    for tool, args in (('train', []), ('test', ['never_read.pth'])):
        with pytest.raises(ConfigTypeError) as error:
            load_tool(f'{tool}.py').main([config, *args, '--work-dir', str(tmp_path / 'work')])
        message = str(error.value)
        assert "model.backbone.type='HourglasBackbone' is not a registered type" in message
        assert 'did you mean HourglassBackbone' in message and 'bad_config.py' in message


def test_unknown_type_in_a_pipeline_and_from_cfg_options(tmp_path):
    cfg = Config.fromfile(TINY_CONFIG)
    cfg.merge_from_dict({'train_dataloader.dataset.pipeline.1.type': 'ClipResise'})
    with pytest.raises(ConfigTypeError,
                       match=r"train_dataloader.dataset.pipeline.1.type='ClipResise'.*ClipResize"):
        check_cfg_types(cfg)
    with pytest.raises(ConfigTypeError, match=r"val_evaluator.1.type='VideoMap'.*VideoMAP"):
        load_tool('train.py').main([TINY_CONFIG, '--work-dir', str(tmp_path),
                                 '--cfg-options', 'val_evaluator.1.type=VideoMap'])


def test_every_repository_config_passes_the_type_check():
    import glob
    configs = [c for c in glob.glob(osp.join(REPO_ROOT, 'configs', '**', '*.py'),
                                    recursive=True) if '_base_' not in c]
    assert len(configs) >= 5
    for config in configs:
        check_cfg_types(Config.fromfile(config))


def test_missing_required_key_names_it(tmp_path):
    cfg = Config.fromfile(TINY_CONFIG)
    del cfg.model['point_head']
    path = str(tmp_path / 'no_point_head.py')
    cfg.dump(path)
    with pytest.raises(TypeError, match=r"Point3D.*missing 1 required .*argument: 'point_head'"):
        load_tool('train.py').main([path, '--work-dir', str(tmp_path / 'work')])


@pytest.mark.slow
def test_num_classes_not_matching_the_dataset_fails_before_training(tiny_data, tmp_path):
    config = write_run_config(str(tmp_path))
    proc = run_tool([PYTHON, 'tools/train.py', config, '--work-dir', str(tmp_path / 'work'),
                     '--cfg-options', *data_options(tiny_data),
                     'model.cls_head.num_classes=5'], check=False)
    assert proc.returncode != 0
    assert ('ValueError: model.cls_head.num_classes=5 does not match train_dataloader.dataset: '
            f'{osp.join(tiny_data, "synthetic_gt.pkl")} has 6 labels (walk_left, walk_right, '
            'jump, march, ...); set model.cls_head.num_classes=6') in proc.stderr
    assert 'Epoch(train)' not in proc.stdout + proc.stderr  # no iteration ran


def fake_runner(num_classes: int, dataset) -> SimpleNamespace:
    model = SimpleNamespace(cls_head=SimpleNamespace(num_classes=num_classes))
    loader = SimpleNamespace(dataset=dataset)
    return SimpleNamespace(model=model, test_dataloader=loader, val_dataloader=loader)


def test_num_classes_check_for_test_and_ava_datasets():
    hook = NumClassesCheckHook()
    act = SimpleNamespace(metainfo=dict(classes=('a', 'b', 'c')), ann_file='gt.pkl')
    hook.before_test(fake_runner(3, act))
    with pytest.raises(ValueError, match=r'model.cls_head.num_classes=4 does not match '
                       r'test_dataloader.dataset: gt.pkl has 3 labels \(a, b, c\)'):
        hook.before_test(fake_runner(4, act))
    # AVA counts the background: the dataset's num_classes is compared as it is
    ava = SimpleNamespace(num_classes=81, ann_file='ava_val.csv', metainfo={})
    hook.before_val(fake_runner(81, ava))
    with pytest.raises(ValueError, match='num_classes=80 .* ava_val.csv has 81 classes'):
        hook.before_val(fake_runner(80, ava))
    # a model without a classification head is not checked
    hook.before_test(SimpleNamespace(model=SimpleNamespace(),
                                     test_dataloader=SimpleNamespace(dataset=act)))
