"""Atomic outputs: a process killed (SIGKILL) in the middle of rewriting an output leaves the
previous complete file under the final name (or nothing), never a truncated one.

Each case runs ``crash_writer.py``, which writes an output once, then is killed while writing
it again, after the new bytes went to disk and before any rename.
"""
import glob
import json
import os
import os.path as osp
import sys

import numpy as np
import pytest
from reliability_helpers import HERE, load_state, run_until_killed

CRASH_WRITER = osp.join(HERE, 'crash_writer.py')


def write_then_crash(work_dir: str, target: str) -> str:
    """Run crash_writer.py until it reports the crash point, SIGKILL it there; its output."""
    output = run_until_killed([sys.executable, CRASH_WRITER, work_dir, target], 'CRASH_POINT',
                              timeout=600)
    assert 'FIRST_WRITE_DONE' in output
    return output


def leftovers(work_dir: str, name: str) -> list:
    return glob.glob(osp.join(work_dir, name + '.*.tmp'))


def test_checkpoint_killed_mid_save(tmp_path):
    work_dir = str(tmp_path)
    write_then_crash(work_dir, 'checkpoint')
    # the interrupted checkpoint exists only as a temporary file
    assert not osp.exists(osp.join(work_dir, 'epoch_2.pth'))
    assert len(leftovers(work_dir, 'epoch_2.pth')) == 1
    # the pointer still names the previous, complete checkpoint: --resume would use it
    with open(osp.join(work_dir, 'last_checkpoint')) as f:
        assert f.read() == osp.join(work_dir, 'epoch_1.pth')
    assert 'linear.weight' in load_state(osp.join(work_dir, 'epoch_1.pth'))


def test_last_checkpoint_pointer_killed_mid_write(tmp_path):
    # mmengine's CheckpointHook writes the pointer with open(path, 'w') (truncate, then
    # write); compat.patch_atomic_local_writes makes that write atomic as well.
    work_dir = str(tmp_path)
    write_then_crash(work_dir, 'last_checkpoint')
    assert 'linear.weight' in load_state(osp.join(work_dir, 'epoch_2.pth'))  # complete
    with open(osp.join(work_dir, 'last_checkpoint')) as f:
        assert f.read() == osp.join(work_dir, 'epoch_1.pth')  # the old pointer, whole
    assert len(leftovers(work_dir, 'last_checkpoint')) == 1


def test_metrics_json_killed_mid_dump(tmp_path):
    work_dir = str(tmp_path)
    write_then_crash(work_dir, 'json')
    with open(tmp_path / 'metrics.json') as f:
        assert json.load(f) == {'act/frame_mAP@0.5': 0.25}
    assert len(leftovers(work_dir, 'metrics.json')) == 1


def test_detection_dump_killed_mid_write(tmp_path):
    work_dir = str(tmp_path)
    write_then_crash(work_dir, 'detections')
    with np.load(tmp_path / 'dets.npz') as data:
        np.testing.assert_array_equal(data['detections'], np.zeros((3, 8)))
    assert len(leftovers(work_dir, 'dets.npz')) == 1


def test_atomic_files_get_the_permissions_of_open(tmp_path):
    from point3d_mm.utils.fileio import atomic_write
    path = tmp_path / 'epoch_1.pth'
    atomic_write(b'data', str(path))
    umask = os.umask(0)
    os.umask(umask)
    assert (path.stat().st_mode & 0o777) == (0o666 & ~umask)  # not mkstemp's 0600


def test_write_error_leaves_no_file_and_no_temporary(tmp_path, monkeypatch):
    """An exception mid-write (disk full, ...) removes the temporary file."""
    import mmengine
    import torch
    from mmengine.runner.checkpoint import save_checkpoint
    path = tmp_path / 'epoch_3.pth'
    monkeypatch.setattr(os, 'fsync', lambda fd: (_ for _ in ()).throw(OSError(28, 'No space')))
    with pytest.raises(OSError, match='No space'):
        save_checkpoint({'state_dict': {'w': torch.ones(3)}}, str(path))
    with pytest.raises(OSError, match='No space'):
        mmengine.dump({'a': 1}, str(tmp_path / 'm.json'))
    assert os.listdir(tmp_path) == []


# --- folders (fileio.atomic_folder: the demo's data root, extracted frame folders) --------

def umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def test_atomic_folder_appears_complete_with_the_permissions_of_makedirs(tmp_path):
    from point3d_mm.utils.fileio import atomic_folder
    target = tmp_path / 'data'
    with atomic_folder(str(target)) as tmp:
        assert not target.exists() and osp.dirname(tmp) == str(tmp_path)
        (open(osp.join(tmp, 'a.txt'), 'w')).write('new')
    assert os.listdir(tmp_path) == ['data'] and (target / 'a.txt').read_text() == 'new'
    assert (target.stat().st_mode & 0o777) == (0o777 & ~umask())  # not mkdtemp's 0700


def test_atomic_folder_replaces_a_folder_whole_or_not_at_all(tmp_path):
    from point3d_mm.utils.fileio import atomic_folder
    target = tmp_path / 'data'
    target.mkdir()
    (target / 'old.txt').write_text('old')
    with pytest.raises(KeyboardInterrupt):
        with atomic_folder(str(target)) as tmp:
            (open(osp.join(tmp, 'half.txt'), 'w')).write('half')
            raise KeyboardInterrupt
    assert os.listdir(tmp_path) == ['data'] and os.listdir(target) == ['old.txt']
    with atomic_folder(str(target)) as tmp:
        (open(osp.join(tmp, 'new.txt'), 'w')).write('new')
    assert os.listdir(tmp_path) == ['data'] and os.listdir(target) == ['new.txt']


def test_atomic_folder_removes_what_killed_writes_of_it_left(tmp_path):
    from point3d_mm.utils.fileio import atomic_folder
    for name in ('data.k1ll3d_0.tmp', 'data.k1ll3d_1.tmp', 'other.k1ll3d_0.tmp'):
        (tmp_path / name).mkdir()
    (tmp_path / 'data.notes.tmp').mkdir()  # not a name of ours
    with atomic_folder(str(tmp_path / 'data')):
        pass
    assert sorted(os.listdir(tmp_path)) == ['data', 'data.notes.tmp', 'other.k1ll3d_0.tmp']


def test_atomic_folder_through_a_symlink_replaces_what_it_points_to(tmp_path):
    from point3d_mm.utils.fileio import atomic_folder
    real = tmp_path / 'disk' / 'data'
    real.mkdir(parents=True)
    (tmp_path / 'data').symlink_to(real)
    with atomic_folder(str(tmp_path / 'data')) as tmp:
        assert osp.dirname(tmp) == str(tmp_path / 'disk')
        (open(osp.join(tmp, 'a.txt'), 'w')).write('new')
    assert (tmp_path / 'data').is_symlink() and (real / 'a.txt').read_text() == 'new'
    assert os.listdir(tmp_path / 'disk') == ['data']


def test_remove_leftovers_removes_only_temporary_files_of_atomic_writes(tmp_path):
    from point3d_mm.utils.fileio import remove_leftovers
    names = ['epoch_2.pth.ab12cd_3.tmp', 'demo.mp4.ab12cd_3.tmp.mp4', 'notes.tmp',
             'epoch_1.pth', 'x.toolong12.tmp']
    for name in names:
        (tmp_path / name).write_text('')
    (tmp_path / 'data.ab12cd_3.tmp').mkdir()  # a folder: atomic_folder's own to remove
    remove_leftovers(str(tmp_path))
    assert sorted(os.listdir(tmp_path)) == ['data.ab12cd_3.tmp', 'epoch_1.pth', 'notes.tmp',
                                            'x.toolong12.tmp']
