"""Resume after SIGKILL: ``tools/train.py --resume`` continues from the work dir's last
checkpoint and, in deterministic mode, ends bit-identical to an uninterrupted run.

The run config (reliability_helpers.RUN_CONFIG) sets ``randomness=dict(seed=0,
deterministic=True)``, logs every iteration and validates every epoch; 8 training clips in
batches of 2 make 4 iterations per epoch, 2 epochs. The interrupted run is killed with SIGKILL
once iteration 2 of epoch 2 is logged (epoch_1.pth and last_checkpoint written, epoch 2 half
done), then resumed with ``--resume`` (no value: the work dir's ``last_checkpoint``).
"""
import json
import os
import os.path as osp

import numpy as np
import pytest
from reliability_helpers import (
    PYTHON,
    assert_same_state,
    data_options,
    load_state,
    run_tool,
    run_until_killed,
    write_run_config,
)

KILL_AFTER = 'Epoch(train) [2][2/4]'


def train_cmd(config: str, work_dir: str, tiny_data: str, resume: bool = False) -> list:
    return [PYTHON, 'tools/train.py', config, *(['--resume'] if resume else []),
            '--work-dir', work_dir, '--cfg-options', *data_options(tiny_data),
            'train_cfg.max_epochs=2',
            f'val_evaluator.0.dump_detections={osp.join(work_dir, "val_dets.npz")}']


@pytest.mark.slow
def test_sigkill_mid_epoch_then_resume_equals_uninterrupted(tiny_data, tmp_path):
    # one persistent worker, as the repository's configs have (tools/train.py restarts
    # workers every epoch in deterministic mode: prepare_deterministic_loader)
    config = write_run_config(str(tmp_path), train_workers=1)
    straight, killed = str(tmp_path / 'straight'), str(tmp_path / 'killed')

    proc = run_tool(train_cmd(config, straight, tiny_data))
    assert 'persistent_workers set to False' in proc.stdout

    run_until_killed(train_cmd(config, killed, tiny_data), KILL_AFTER)
    assert osp.isfile(osp.join(killed, 'epoch_1.pth'))
    assert not osp.exists(osp.join(killed, 'epoch_2.pth'))
    with open(osp.join(killed, 'last_checkpoint')) as f:
        assert f.read().strip() == osp.join(killed, 'epoch_1.pth')
    # no temporary file of an atomic write is left over, no truncated checkpoint
    assert not [n for n in os.listdir(killed) if n.endswith('.tmp')]

    proc = run_tool(train_cmd(config, killed, tiny_data, resume=True))
    log = proc.stdout + proc.stderr
    assert 'resumed epoch: 1, iter: 4' in log
    assert 'Epoch(train) [1]' not in log  # epoch 1 was not trained again

    assert_same_state(load_state(osp.join(straight, 'epoch_2.pth')),
                      load_state(osp.join(killed, 'epoch_2.pth')), 'resumed vs uninterrupted')
    metrics = []
    for work_dir in (straight, killed):
        with open(osp.join(work_dir, 'val_metrics_epoch2.json')) as f:
            metrics.append(json.load(f))
    assert metrics[0] == metrics[1]
    with np.load(osp.join(straight, 'val_dets.npz')) as a, \
            np.load(osp.join(killed, 'val_dets.npz')) as b:
        np.testing.assert_array_equal(a['detections'], b['detections'])
