"""`mim train` / `mim test` find point3d_mm's configs and tools from any directory, for the
editable install of the dev environment and for a normal `pip install .` into a second venv."""
import os
import os.path as osp
import subprocess
import sys
import sysconfig

import pytest

from point3d_mm.datasets.preparation.synthetic_actions import SyntheticActions

REPO_ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
CONFIG = 'point3d_tiny_synthetic.py'


@pytest.fixture(scope='module')
def tiny_data(tmp_path_factory) -> str:
    root = str(tmp_path_factory.mktemp('synthetic'))
    SyntheticActions(seed=1, num_train=2, num_test=1, size=64, min_frames=16, max_frames=16,
                     max_actors=1).generate(root)
    return root


def data_options(root: str) -> list:
    gt = osp.join(root, 'synthetic_gt.pkl')
    return ([f'{loader}.dataset.data_root={root}'
             for loader in ('train_dataloader', 'val_dataloader', 'test_dataloader')]
            + [f'test_evaluator.{i}.ann_file={gt}' for i in (0, 1)]
            + ['train_dataloader.dataset.indices=4', 'test_dataloader.dataset.indices=4',
               'train_dataloader.batch_size=2', 'test_dataloader.batch_size=2',
               'train_dataloader.num_workers=0', 'test_dataloader.num_workers=0',
               'train_dataloader.persistent_workers=False',
               'test_dataloader.persistent_workers=False', 'train_cfg.max_epochs=1'])


def run(cmd, cwd) -> str:
    env = {**os.environ, 'OMP_NUM_THREADS': '1'}
    done = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, env=env, timeout=600)
    assert done.returncode == 0, f'{cmd}\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}'
    return done.stdout + done.stderr


def train_and_test(python: str, data: str, work_dir: str, cwd: str) -> str:
    """`mim train` then `mim test` of the tiny config, named only by its file name."""
    mim = [python, '-m', 'mim']
    run(mim + ['train', 'point3d_mm', CONFIG, '--gpus', '0', '--work-dir', work_dir,
               '--no-validate', '--cfg-options', *data_options(data)], cwd)
    checkpoint = osp.join(work_dir, 'epoch_1.pth')
    assert osp.isfile(checkpoint)
    return run(mim + ['test', 'point3d_mm', CONFIG, '--checkpoint', checkpoint, '--gpus', '0',
                      '--work-dir', work_dir, '--cfg-options', *data_options(data)], cwd)


@pytest.mark.slow
def test_mim_train_and_test_editable(tiny_data, tmp_path):
    cwd = tmp_path / 'elsewhere'
    cwd.mkdir()
    output = train_and_test(sys.executable, tiny_data, str(tmp_path / 'work'), str(cwd))
    assert 'act/frame_mAP@0.5' in output and 'act/video_mAP@0.5' in output


@pytest.mark.slow
def test_mim_train_and_test_normal_install(tiny_data, tmp_path):
    # A copy of the tracked files: building a wheel writes point3d_mm/.mim (copies), which
    # must not replace the links of the checkout's editable install.
    source = tmp_path / 'source'
    files = subprocess.run(['git', 'ls-files', '-z'], cwd=REPO_ROOT, capture_output=True,
                           check=True).stdout.decode().split('\0')
    for name in filter(None, files):
        if osp.exists(osp.join(REPO_ROOT, name)):
            os.makedirs(source / osp.dirname(name), exist_ok=True)
            os.link(osp.join(REPO_ROOT, name), source / name)
    venv = tmp_path / 'venv2'
    subprocess.run([sys.executable, '-m', 'venv', str(venv)], check=True)
    python = str(venv / 'bin' / 'python')
    site = subprocess.run(
        [python, '-c', 'import sysconfig; print(sysconfig.get_paths()["purelib"])'],
        capture_output=True, text=True, check=True).stdout.strip()
    # The dependencies come from the dev environment, after the new venv's own packages.
    with open(osp.join(site, 'dev_env_packages.pth'), 'w') as f:
        f.write(sysconfig.get_paths()['purelib'] + '\n')
    run([python, '-m', 'pip', 'install', '--no-deps', '--no-build-isolation', '--no-index',
         str(source)], str(tmp_path))
    installed = run([python, '-c', 'import point3d_mm, os; print(point3d_mm.__file__); '
                     'print(os.path.isfile(os.path.join(os.path.dirname(point3d_mm.__file__), '
                     '".mim", "configs", "point3d_tiny_synthetic.py")))'], str(tmp_path))
    assert installed.split()[0].startswith(site) and installed.split()[1] == 'True'
    output = train_and_test(python, tiny_data, str(tmp_path / 'work'), str(tmp_path))
    assert 'act/frame_mAP@0.5' in output
