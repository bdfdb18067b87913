"""The locks of ``tools/run_demo.py``, each held for real (``fcntl.flock``) by this test
process standing in for another run, against a real run_demo subprocess:

* ``<work dir>.lock`` held: run_demo stops at once, naming the lock and the holder's pid;
* ``<data root>.lock`` held (another run generating): run_demo says it waits, waits, and once
  the lock is released finds the data complete and reuses it;
* ``<data root>.users.lock`` held shared (another run training on the data) while the data
  root holds another recipe: run_demo refuses to replace it, naming the lock.

Seconds each (``--data-only`` never imports torch); the full two-runs-at-once test is in
test_demo_kill.py (slow).
"""
import fcntl
import json
import os
import os.path as osp
import time

import pytest
from demo_helpers import Run, demo_cmd, write_demo_config


@pytest.fixture
def config(tmp_path) -> str:
    return write_demo_config(str(tmp_path))


def hold(path: str, operation: int = fcntl.LOCK_EX) -> int:
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o666)
    fcntl.flock(fd, operation | fcntl.LOCK_NB)
    os.ftruncate(fd, 0)
    os.write(fd, f'{os.getpid()}\n'.encode())
    return fd


def fake_complete_data(data_root: str, recipe: dict) -> None:
    """What run_demo takes for a complete data root of ``recipe`` (its completeness check)."""
    os.makedirs(data_root)
    with open(osp.join(data_root, 'synthetic_gt.pkl'), 'wb') as f:
        f.write(b'stands in for the ground truth')
    with open(osp.join(data_root, 'demo_recipe.json'), 'w') as f:
        json.dump(recipe, f)


def test_second_run_on_a_work_dir_stops_naming_the_lock_and_pid(tmp_path, config):
    work_dir = str(tmp_path / 'work')
    fd = hold(work_dir + '.lock')
    try:
        run = Run(demo_cmd(config, str(tmp_path / 'data'), work_dir))
        started = time.time()
        code = run.wait(120)
    finally:
        os.close(fd)
    assert code == 1
    assert (f'run_demo.py: {work_dir}.lock is held by pid {os.getpid()}, another run_demo.py '
            f'using {work_dir}; wait for it to finish, or pass another --work-dir') in run.output
    assert time.time() - started < 60
    assert '=== 1/4' not in run.output and not osp.exists(str(tmp_path / 'data'))


def test_run_waits_for_the_generating_run_then_reuses_its_data(tmp_path, config):
    data_root = str(tmp_path / 'data')
    fd = hold(data_root + '.lock')
    try:
        run = Run(demo_cmd(config, data_root, str(tmp_path / 'work'), '--data-only'))
        deadline = time.time() + 120
        while f'waiting for {data_root}.lock: pid {os.getpid()} is generating' not in run.output:
            assert run.proc.poll() is None, run.output
            assert time.time() < deadline, run.output
            time.sleep(0.05)
        time.sleep(1)
        assert run.proc.poll() is None, 'it did not wait for the lock'
        # "the other run" completes the data, then lets go
        fake_complete_data(data_root, dict(seed=0, num_train=4, num_test=2, num_val=2))
    finally:
        os.close(fd)
    assert run.wait(120) == 0, run.output
    assert f'reusing {data_root}' in run.output and 'generated' not in run.output


def test_data_in_use_is_not_replaced(tmp_path, config):
    data_root = str(tmp_path / 'data')
    # data of another recipe
    fake_complete_data(data_root, dict(seed=1, num_train=4, num_test=2, num_val=2))
    fd = hold(data_root + '.users.lock', fcntl.LOCK_SH)
    try:
        output = Run(demo_cmd(config, data_root, str(tmp_path / 'work'), '--data-only'))
        code = output.wait(120)
    finally:
        os.close(fd)
    assert code == 1
    assert (f'{data_root} must be regenerated (other recipe, or --fresh) but another '
            f'run_demo.py is training or testing on it ({data_root}.users.lock is held)'
            in output.output)
    with open(osp.join(data_root, 'demo_recipe.json')) as f:
        assert json.load(f)['seed'] == 1  # untouched
