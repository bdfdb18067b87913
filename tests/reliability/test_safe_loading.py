"""Untrusted files: a checkpoint or an annotation pickle that would run code is refused with a
clear error naming the file and the global, and the code never runs.

Checkpoints load through ``weights_only=True`` with an explicit allow-list
(``point3d_mm.utils.compat``), annotation pickles through a restricted unpickler that admits
only builtins and numpy arrays (``point3d_mm.utils.safe_pickle``).
"""
import os
import pickle
import subprocess

import pytest
import torch
from reliability_helpers import PYTHON, TINY_CONFIG, data_options, run_tool, write_run_config

from point3d_mm.utils.checkpoint import CheckpointSecurityError
from point3d_mm.utils.safe_pickle import UnsafePickleError


class Payload:
    """Unpickling it calls ``function(*args)``."""

    def __init__(self, function, *args) -> None:
        self.function, self.args = function, args

    def __reduce__(self):
        return self.function, self.args


def touch_command(marker) -> str:
    return f'touch {marker}'


def evil_checkpoint(tmp_path, marker) -> str:
    path = str(tmp_path / 'evil.pth')
    torch.save({'state_dict': {}, 'meta': Payload(os.system, touch_command(marker))}, path)
    return path


def test_tools_test_refuses_a_malicious_checkpoint(tiny_data, tmp_path):
    marker = tmp_path / 'pwned'
    config = write_run_config(str(tmp_path))
    proc = run_tool([PYTHON, 'tools/test.py', config, evil_checkpoint(tmp_path, marker),
                     '--work-dir', str(tmp_path / 'work'),
                     '--cfg-options', *data_options(tiny_data)], check=False)
    assert proc.returncode != 0
    assert 'CheckpointSecurityError' in proc.stderr
    assert ('evil.pth: refused to load a checkpoint that needs globals outside the '
            'allow-list: posix.system') in proc.stderr
    assert not marker.exists()


def test_init_detector_refuses_a_malicious_checkpoint(tmp_path):
    from point3d_mm.apis import init_detector
    marker = tmp_path / 'pwned'
    with pytest.raises(CheckpointSecurityError, match=r'evil.pth: refused .* posix.system'):
        init_detector(TINY_CONFIG, evil_checkpoint(tmp_path, marker))
    assert not marker.exists()


# Names as torch reports them: pickle protocol 2 writes Python 2 names (subprocess ->
# commands, builtins -> nothing).
@pytest.mark.parametrize('function, name', [
    (os.system, 'posix.system'),
    (eval, 'eval'),
    (subprocess.check_output, 'commands.check_output'),
])
def test_checkpoint_globals_are_named(tmp_path, function, name):
    from mmengine.runner.checkpoint import _load_checkpoint
    path = str(tmp_path / 'bad.pth')
    torch.save({'state_dict': {'w': torch.ones(1)}, 'x': Payload(function, 'true')}, path)
    with pytest.raises(CheckpointSecurityError, match=f'bad.pth: refused .*: {name}\\. '):
        _load_checkpoint(path, map_location='cpu')


def evil_annotations(tmp_path, marker) -> str:
    path = str(tmp_path / 'evil_gt.pkl')
    act = dict(labels=['a'], gttubes={}, nframes={}, resolution={}, train_videos=[[]],
               test_videos=[[]], trap=Payload(os.system, touch_command(marker)))
    with open(path, 'wb') as f:
        pickle.dump(act, f)
    return path


def test_act_dataset_refuses_a_malicious_annotation_pickle(tmp_path):
    from point3d_mm.datasets import ACTDataset
    marker = tmp_path / 'pwned'
    with pytest.raises(UnsafePickleError,
                       match=r'evil_gt.pkl: refused to unpickle global posix.system; '
                       'annotation pickles may hold only builtin containers'):
        ACTDataset(ann_file=evil_annotations(tmp_path, marker), clip_len=2)
    assert not marker.exists()


def test_frame_map_refuses_a_malicious_ground_truth(tmp_path):
    from point3d_mm.evaluation import FrameMAP
    marker = tmp_path / 'pwned'
    with pytest.raises(UnsafePickleError, match='evil_gt.pkl: refused .* posix.system'):
        FrameMAP(ann_file=evil_annotations(tmp_path, marker))
    assert not marker.exists()
