"""Resume after SIGKILL: ``tools/train.py --resume`` continues from the work dir's last
checkpoint and, in deterministic mode, ends bit-identical to an uninterrupted run.

The run config (reliability_helpers.RUN_CONFIG) sets ``randomness=dict(seed=0,
deterministic=True)``, logs every iteration and validates every epoch; 8 training clips in
batches of 2 make 4 iterations per epoch, 2 epochs. The interrupted run is killed with SIGKILL
once iteration 2 of epoch 2 is logged (epoch_1.pth and last_checkpoint written, epoch 2 half
done), then resumed with ``--resume`` (no value: the work dir's ``last_checkpoint``).

The default suite's version (:func:`test_sigkill_then_resume_continues_bit_identically`) is
the same at its smallest: 4 training clips (2 iterations per epoch), no validation, the 3D
Head's dropout on (so that the main process's RNG matters), killed once iteration 1 of
epoch 2 is logged; it compares everything the runs carry: weights, both optimizers' states,
the schedulers, the counters, the message hub's records, the batches (sampler and
augmentation draws) and RNG states of every iteration after the resume, and the RNG states
at the end.
"""
import json
import os
import os.path as osp

import numpy as np
import pytest
from reliability_helpers import (
    PYTHON,
    assert_same_state,
    assert_same_tree,
    data_options,
    finish_tool,
    load_checkpoint_file,
    load_state,
    run_tool,
    run_until_killed,
    start_tool,
    write_run_config,
)

KILL_AFTER = 'Epoch(train) [2][2/4]'


def train_cmd(config: str, work_dir: str, tiny_data: str, resume: bool = False,
              fast: bool = False) -> list:
    """``tools/train.py`` on the run config for 2 epochs; ``fast``: 4 clips, no validation,
    the 3D Head's dropout on."""
    cmd = [PYTHON, 'tools/train.py', config, *(['--resume'] if resume else []),
           '--work-dir', work_dir, *(['--no-validate'] if fast else []),
           '--cfg-options', *data_options(tiny_data), 'train_cfg.max_epochs=2']
    if fast:
        return cmd + ['train_dataloader.dataset.indices=4', 'model.cls_head.dropout_ratio=0.5']
    return cmd + [f'val_evaluator.0.dump_detections={osp.join(work_dir, "val_dets.npz")}']


def kill_then_resume(config: str, straight: str, killed: str, tiny_data: str,
                     kill_after: str, fast: bool = False) -> str:
    """Train ``straight`` uninterrupted and, at the same time, ``killed`` until a log line
    holds ``kill_after`` (in epoch 2); SIGKILL it, check what it left, resume it; the resumed
    run's log."""
    uninterrupted = start_tool(train_cmd(config, straight, tiny_data, fast=fast))
    try:
        run_until_killed(train_cmd(config, killed, tiny_data, fast=fast), kill_after)
    except BaseException:
        uninterrupted.kill()
        uninterrupted.communicate()
        raise
    proc = finish_tool(uninterrupted)
    assert 'persistent_workers set to False' in proc.stdout

    assert osp.isfile(osp.join(killed, 'epoch_1.pth'))
    assert not osp.exists(osp.join(killed, 'epoch_2.pth'))
    with open(osp.join(killed, 'last_checkpoint')) as f:
        assert f.read().strip() == osp.join(killed, 'epoch_1.pth')
    # no temporary file of an atomic write is left over, no truncated checkpoint
    assert not [n for n in os.listdir(killed) if n.endswith('.tmp')]

    proc = run_tool(train_cmd(config, killed, tiny_data, resume=True, fast=fast))
    log = proc.stdout + proc.stderr
    assert 'Epoch(train) [1]' not in log  # epoch 1 was not trained again
    return log


def test_sigkill_then_resume_continues_bit_identically(tiny_data, tmp_path):
    config = write_run_config(str(tmp_path), train_workers=1)
    straight, killed = str(tmp_path / 'straight'), str(tmp_path / 'killed')
    log = kill_then_resume(config, straight, killed, tiny_data, 'Epoch(train) [2][1/2]',
                           fast=True)
    assert 'resumed epoch: 1, iter: 2' in log

    checkpoints = [load_checkpoint_file(osp.join(work_dir, 'epoch_2.pth'))
                   for work_dir in (straight, killed)]
    a, b = checkpoints
    assert_same_state(a['state_dict'], b['state_dict'], 'weights')
    assert set(a['optimizer']) == {'point', 'cls'}  # Adam and SGD, each with its state
    assert all(a['optimizer'][name]['state'] for name in ('point', 'cls'))
    assert_same_tree(a['optimizer'], b['optimizer'], 'optimizer')
    assert_same_tree(a['param_schedulers'], b['param_schedulers'], 'param_schedulers')
    assert (a['meta']['epoch'], a['meta']['iter']) == (b['meta']['epoch'], b['meta']['iter'])
    assert (a['meta']['epoch'], a['meta']['iter']) == (2, 4)
    # the message hub: counters and every logged loss and learning rate of both runs (not
    # the work dir, the start time, the checkout's commit or the timings)
    runtime_info, logged = [], []
    for checkpoint in checkpoints:
        hub = checkpoint['message_hub']
        runtime_info.append({key: value for key, value in hub['runtime_info'].items()
                             if key not in ('cfg', 'experiment_name', 'last_ckpt',
                                            'mmengine_version')})
        logged.append({key: buffer.data for key, buffer in hub['log_scalars'].items()
                       if not key.endswith('time')})
    assert_same_tree(*runtime_info, 'message_hub.runtime_info')
    assert len(logged[0]['train/loss'][0]) == 4 and 'train/cls.lr' in logged[0]
    assert_same_tree(*logged, 'message_hub.log_scalars')

    streams = []
    for work_dir in (straight, killed):
        with open(osp.join(work_dir, 'train_stream_rank0.json')) as f:
            streams.append(json.load(f))
    uninterrupted, resumed = streams
    assert [i['iter'] for i in resumed['iterations']] == [2, 3]
    assert resumed['iterations'] == uninterrupted['iterations'][2:]
    assert resumed['rng_after'] == uninterrupted['rng_after']


@pytest.mark.slow
def test_sigkill_mid_epoch_then_resume_equals_uninterrupted(tiny_data, tmp_path):
    # one persistent worker, as the repository's configs have (tools/train.py restarts
    # workers every epoch in deterministic mode: prepare_deterministic_loader)
    config = write_run_config(str(tmp_path), train_workers=1)
    straight, killed = str(tmp_path / 'straight'), str(tmp_path / 'killed')
    log = kill_then_resume(config, straight, killed, tiny_data, KILL_AFTER)
    assert 'resumed epoch: 1, iter: 4' in log

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
