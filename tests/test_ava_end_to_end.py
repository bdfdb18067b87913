"""The AVA path through the standard tools: `mim train` and `mim test` of the tiny RoI config
on the synthetic AVA layout report mmaction2's AVAMetric through the evaluator hook."""
import os
import subprocess
import sys

import pytest

from point3d_mm.datasets.preparation.synthetic_actions import SyntheticActions

CONFIG = 'point3d_tiny_synthetic_ava.py'
SMALL = ['train_dataloader.batch_size=2', 'train_dataloader.num_workers=0',
         'train_dataloader.persistent_workers=False', 'test_dataloader.batch_size=2',
         'test_dataloader.num_workers=0', 'test_dataloader.persistent_workers=False',
         'train_dataloader.dataset.indices=4', 'train_cfg.max_epochs=1']


def mim(args, cwd) -> str:
    done = subprocess.run([sys.executable, '-m', 'mim', *args], cwd=cwd, capture_output=True,
                          text=True, timeout=600, env={**os.environ, 'OMP_NUM_THREADS': '1'})
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return done.stdout + done.stderr


@pytest.mark.slow
def test_mim_train_and_test_ava_config(tmp_path):
    # The config's data paths are relative (data/synthetic/...): run where they resolve.
    SyntheticActions(seed=2, num_train=2, num_test=1, size=64, min_frames=40, max_frames=40,
                     max_actors=1).generate(str(tmp_path / 'data' / 'synthetic'))
    work = str(tmp_path / 'work')
    mim(['train', 'point3d_mm', CONFIG, '--gpus', '0', '--work-dir', work, '--no-validate',
         '--cfg-options', *SMALL], str(tmp_path))
    output = mim(['test', 'point3d_mm', CONFIG, '--checkpoint', os.path.join(work, 'epoch_1.pth'),
                  '--gpus', '0', '--work-dir', work, '--cfg-options', *SMALL], str(tmp_path))
    assert 'Epoch(test)' in output and 'mAP/overall:' in output
