"""``tools/run_demo.py`` (``make demo``) killed at every step, and run twice at once.

Each killed run gets SIGKILL on its whole process group (run_demo, ``mim``,
``tools/train.py`` and its dataloader workers, ``tools/test.py``, ``tools/demo.py``) at a
point inside one step, found from its output or from a file it is writing:

* data: once the frames of 2 of the 6 videos are in ``<data root>.<random>.tmp``;
* training: once iteration 3 of 4 is logged (``iter_2.pth`` saved, iteration 4 running);
* evaluation: once 10 test batches are logged;
* demo video: once the video's temporary file exists (the encoder is writing it).

Then the same command runs again, to the end. It must leave no partial output under a final
name after the kill, and after the rerun end exactly where an uninterrupted run of the same
settings ends: the same test metrics, bit-identical final weights, the same test detections
and demo tubes (the demo is deterministic with its fixed seed on CPU).

The tiny settings (demo_helpers.TINY_DEMO_CONFIG, 4 + 2 videos, 4 iterations) make one run
take about a minute on 2 cores; every test here is marked slow (``make test-all``): even the
data step alone (``--data-only``, killed and rerun) took 32-50 s on 2 shared cores, over the
30 s a default-suite test may take. The default suite has the locks (test_demo_locks.py).
"""
import os
import os.path as osp

import pytest
from demo_helpers import (
    Run,
    assert_same_results,
    demo_cmd,
    demo_results,
    holder_pid_in,
    leftovers,
    run_demo,
    write_demo_config,
)
from tool_helpers import tree_hashes

from point3d_mm.datasets.preparation.synthetic_actions import SyntheticActions


def _tmp_data_folders(data_root: str):
    parent, name = osp.split(data_root)
    return [n for n in os.listdir(parent) if n.startswith(name + '.') and n.endswith('.tmp')]


def _kill_during_generation(cmd, data_root: str) -> None:
    """Kill once the frames of train_0001 are complete (train_0002 begun) in the temporary
    folder, then check that nothing appeared under the data root's name."""
    run = Run(cmd)
    parent, name = osp.split(data_root)

    def two_videos_written() -> bool:
        return any(osp.isdir(osp.join(parent, tmp, 'frames', 'train_0002'))
                   for tmp in _tmp_data_folders(data_root))

    run.kill_when(two_videos_written, 'the generation of the third video')
    assert '=== 1/4 synthetic dataset' in run.output
    assert not osp.exists(data_root), 'a killed generation left a data root'
    assert _tmp_data_folders(data_root), 'the generation did not build in a temporary folder'


@pytest.mark.slow
def test_killed_data_generation_is_redone(tmp_path):
    """``--data-only`` killed mid-generation, then rerun: the data root
    appears only complete, byte-identical to a direct generation, and the killed run's
    temporary folder is gone."""
    data_root = str(tmp_path / 'data')
    # 3 + 1 videos: the kill comes in the third
    cmd = demo_cmd(write_demo_config(str(tmp_path)), data_root, str(tmp_path / 'work'),
                   '--data-only', '--num-train', '3', '--num-test', '1')
    _kill_during_generation(cmd, data_root)
    output = run_demo(cmd)
    assert 'generated ' in output
    assert not _tmp_data_folders(data_root)
    reference = str(tmp_path / 'reference')
    # TINY_ARGS' --num-val 2
    SyntheticActions(seed=0, num_train=3, num_test=1, num_val=2).generate(reference)
    generated = tree_hashes(data_root)
    assert generated.pop('demo_recipe.json')
    assert generated == tree_hashes(reference)
    # complete now: a third run reuses it
    assert 'reusing ' in run_demo(cmd)


# --- the kill matrix (slow) -----------------------------------------------------------------

@pytest.fixture(scope='module')
def uninterrupted(tmp_path_factory):
    """An uninterrupted run: its data root (reused, read-only, by the killed runs of steps
    2-4) and its results."""
    folder = str(tmp_path_factory.mktemp('demo_straight'))
    config = write_demo_config(folder)
    data_root, work_dir = osp.join(folder, 'data'), osp.join(folder, 'work')
    run_demo(demo_cmd(config, data_root, work_dir))
    return dict(config=config, data_root=data_root, results=demo_results(work_dir))


def _rerun_and_compare(cmd, work_dir: str, uninterrupted) -> str:
    output = run_demo(cmd)
    assert_same_results(demo_results(work_dir), uninterrupted['results'],
                        'killed and rerun vs uninterrupted')
    assert not leftovers(work_dir), leftovers(work_dir)
    return output


@pytest.mark.slow
def test_killed_in_data_step_then_rerun_ends_as_uninterrupted(tmp_path, uninterrupted):
    data_root, work_dir = str(tmp_path / 'data'), str(tmp_path / 'work')
    cmd = demo_cmd(uninterrupted['config'], data_root, work_dir)
    _kill_during_generation(cmd, data_root)
    output = _rerun_and_compare(cmd, work_dir, uninterrupted)
    assert 'generated ' in output
    assert not _tmp_data_folders(data_root)
    assert tree_hashes(data_root) == tree_hashes(uninterrupted['data_root'])


@pytest.mark.slow
def test_killed_in_training_then_rerun_resumes(tmp_path, uninterrupted):
    work_dir = str(tmp_path / 'work')
    cmd = demo_cmd(uninterrupted['config'], uninterrupted['data_root'], work_dir)
    run = Run(cmd)
    run.kill_when(run.line_seen(r'Iter\(train\) \[3/4\]'), 'training iteration 3')
    assert osp.isfile(osp.join(work_dir, 'iter_2.pth'))
    assert not osp.exists(osp.join(work_dir, 'iter_4.pth'))
    output = _rerun_and_compare(cmd, work_dir, uninterrupted)
    assert 'reusing ' in output  # the data
    # continued from iter_2.pth: iterations 1-2 not trained again
    assert 'Advance dataloader 2 steps' in output
    assert 'Iter(train) [2/4]' not in output and 'Iter(train) [4/4]' in output


@pytest.mark.slow
def test_killed_in_evaluation_then_rerun_redoes_it(tmp_path, uninterrupted):
    work_dir = str(tmp_path / 'work')
    cmd = demo_cmd(uninterrupted['config'], uninterrupted['data_root'], work_dir)
    run = Run(cmd)
    run.kill_when(run.line_seen(r'Iter\(test\) \[\s*10/'), 'test batch 10')
    assert '=== 3/4 evaluation' in run.output
    assert not osp.exists(osp.join(work_dir, 'test_metrics.json'))
    output = _rerun_and_compare(cmd, work_dir, uninterrupted)
    assert 'Iter(train)' not in output  # training was complete: nothing trained again
    assert 'Iter(test)' in output


@pytest.mark.slow
def test_killed_writing_the_demo_video_then_rerun_redoes_it(tmp_path, uninterrupted):
    work_dir = str(tmp_path / 'work')
    cmd = demo_cmd(uninterrupted['config'], uninterrupted['data_root'], work_dir)
    run = Run(cmd)
    video = osp.join(work_dir, 'demo_test_0000.mp4')

    def video_being_written() -> bool:
        return osp.isdir(work_dir) and any(
            n.startswith('demo_test_0000.mp4.') and '.tmp' in n for n in os.listdir(work_dir))

    run.kill_when(video_being_written, 'the demo video\'s temporary file')
    assert '=== 4/4 demo video' in run.output
    assert not osp.exists(video) and leftovers(work_dir)
    output = _rerun_and_compare(cmd, work_dir, uninterrupted)
    assert 'reusing ' + osp.join(work_dir, 'test_metrics.json') in output
    assert 'Iter(test)' not in output
    assert osp.getsize(video) > 0


# --- two runs at once (slow) ----------------------------------------------------------------

@pytest.mark.slow
def test_two_runs_at_once_share_the_data_and_not_the_work_dir(tmp_path, uninterrupted):
    """Three runs started together on one fresh data root: A and B on one work dir, C on
    another. One of A and B stops at once naming the work dir's lock and the other's pid; of
    the two left, one generates the data while the other waits for it and reuses it; both end
    as an uninterrupted run, and the data is byte-identical to the uninterrupted run's."""
    config, data_root = uninterrupted['config'], str(tmp_path / 'data')
    shared, other = str(tmp_path / 'work_shared'), str(tmp_path / 'work_other')
    runs = [Run(demo_cmd(config, data_root, shared)), Run(demo_cmd(config, data_root, shared)),
            Run(demo_cmd(config, data_root, other))]
    codes = [run.wait(900) for run in runs]
    failed = [i for i in (0, 1) if codes[i] != 0]
    assert len(failed) == 1, [run.output[-3000:] for run in runs]
    loser, winner = runs[failed[0]], runs[1 - failed[0]]
    message = loser.output
    assert f'{shared}.lock is held by pid {winner.proc.pid}' in message, message[-2000:]
    assert holder_pid_in(message) == winner.proc.pid
    assert 'Iter(train)' not in message and 'pass another --work-dir' in message
    assert codes[2] == 0, runs[2].output[-4000:]

    outputs = [winner.output, runs[2].output]
    assert sum('generated ' + data_root in out for out in outputs) == 1
    waited = [out for out in outputs if 'generated ' + data_root not in out][0]
    assert 'reusing ' + data_root in waited
    # the runs started together: the second one to reach the data had to wait for the first
    assert f'waiting for {data_root}.lock' in waited
    assert tree_hashes(data_root) == tree_hashes(uninterrupted['data_root'])
    for work_dir in (shared, other):
        assert_same_results(demo_results(work_dir), uninterrupted['results'],
                            f'{work_dir} vs uninterrupted')
