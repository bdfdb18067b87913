"""Checkpoint integrity: checkpoints saved through mmengine carry a ``<file>.sha256`` sidecar,
checked when they are loaded. A truncated or altered checkpoint is refused with
``CheckpointDamagedError`` naming the file (with or without a sidecar), a checkpoint without
sidecar (pretrained weights from elsewhere) loads as before, and ``tools/train.py --resume``
falls back to the newest intact checkpoint when the one ``last_checkpoint`` names is damaged.
"""
import hashlib
import os
import os.path as osp
import shutil

import pytest
import torch
from mmengine.runner.checkpoint import _load_checkpoint, save_checkpoint
from reliability_helpers import PYTHON, data_options, run_tool, write_run_config

from point3d_mm.engine import runner_setup
from point3d_mm.utils.checkpoint import (
    CheckpointDamagedError,
    CheckpointSecurityError,
    sidecar_path,
    verify_checkpoint,
)


def state(seed: int = 0) -> dict:
    generator = torch.Generator().manual_seed(seed)
    return {'meta': {'epoch': seed},
            'state_dict': {f'layer{i}.weight': torch.randn(32, 32, generator=generator)
                           for i in range(3)}}


def saved(folder, name: str = 'epoch_1.pth', seed: int = 0) -> str:
    path = str(folder / name)
    save_checkpoint(state(seed), path)
    return path


def load(path: str) -> dict:
    return _load_checkpoint(path, map_location='cpu')


def rewrite(path: str, change) -> None:
    with open(path, 'rb') as f:
        data = bytearray(f.read())
    with open(path, 'wb') as f:
        f.write(bytes(change(data)))


def flip(offset_fraction: float):
    def change(data: bytearray) -> bytearray:
        data[int(len(data) * offset_fraction)] ^= 0x10
        return data
    return change


def truncate(keep_fraction: float):
    return lambda data: data[:int(len(data) * keep_fraction)]


def test_saved_checkpoint_has_a_sha256sum_sidecar(tmp_path):
    path = saved(tmp_path)
    with open(path, 'rb') as f:
        digest = hashlib.sha256(f.read()).hexdigest()
    with open(sidecar_path(path)) as f:
        assert f.read() == f'{digest}  epoch_1.pth\n'  # what `sha256sum -c` reads
    torch.testing.assert_close(load(path)['state_dict'], state()['state_dict'])


@pytest.mark.parametrize('change', [truncate(0.5), truncate(0.999), lambda data: data[:-1]],
                         ids=['half', 'tail', 'last_byte'])
def test_truncated_checkpoint_is_refused_as_damaged(tmp_path, change):
    path = saved(tmp_path)
    rewrite(path, change)
    with pytest.raises(CheckpointDamagedError,
                       match=f'{path}: the checkpoint is damaged \\(hash mismatch'):
        load(path)


@pytest.mark.parametrize('where', [0.3, 0.6, 0.9])
def test_bit_flipped_checkpoint_is_refused_as_damaged(tmp_path, where):
    # most flips inside tensor data load silently without the sidecar
    path = saved(tmp_path)
    rewrite(path, flip(where))
    with pytest.raises(CheckpointDamagedError, match='epoch_1.pth: the checkpoint is damaged'):
        load(path)


def test_sidecar_of_another_checkpoint_is_a_mismatch(tmp_path):
    path = saved(tmp_path)
    other = saved(tmp_path, 'epoch_2.pth', seed=1)
    shutil.copy(sidecar_path(other), sidecar_path(path))
    with pytest.raises(CheckpointDamagedError, match='hash mismatch'):
        load(path)
    load(other)


def test_checkpoint_without_sidecar_loads_as_before(tmp_path):
    pretrained = str(tmp_path / 'pretrained.pth')
    torch.save(state(), pretrained)  # weights from elsewhere: no sidecar
    assert not osp.exists(sidecar_path(pretrained))
    torch.testing.assert_close(load(pretrained)['state_dict'], state()['state_dict'])
    ours = saved(tmp_path)
    os.remove(sidecar_path(ours))
    torch.testing.assert_close(load(ours)['state_dict'], state()['state_dict'])


@pytest.mark.parametrize('change', [truncate(0.5), truncate(0.98), lambda data: data[:-30]],
                         ids=['half', 'tail', 'directory'])
def test_damaged_checkpoint_without_sidecar_is_damaged_not_einval(tmp_path, change):
    # torch alone says "OSError: [Errno 22] Invalid argument" or "PytorchStreamReader failed"
    path = str(tmp_path / 'pretrained.pth')
    torch.save(state(), path)
    rewrite(path, change)
    with pytest.raises(CheckpointDamagedError, match='pretrained.pth: the checkpoint is damaged'):
        load(path)


def test_load_checkpoint_into_a_model_refuses_a_damaged_file(tmp_path):
    from mmengine.runner.checkpoint import load_checkpoint
    model = torch.nn.Linear(32, 32)
    path = str(tmp_path / 'epoch_1.pth')
    save_checkpoint({'state_dict': model.state_dict()}, path)
    load_checkpoint(model, path, map_location='cpu')
    rewrite(path, truncate(0.7))
    with pytest.raises(CheckpointDamagedError, match='epoch_1.pth'):
        load_checkpoint(model, path, map_location='cpu')


def test_malicious_checkpoint_with_a_valid_sidecar_is_still_a_security_refusal(tmp_path):
    path = str(tmp_path / 'evil.pth')
    save_checkpoint({'state_dict': {}, 'x': Evil()}, path)  # sidecar written, matches
    verify_checkpoint(path)
    with pytest.raises(CheckpointSecurityError, match='evil.pth: refused .*posix.system'):
        load(path)


class Evil:

    def __reduce__(self):
        return os.system, ('true',)


def test_overwriting_a_checkpoint_replaces_its_sidecar(tmp_path):
    path = saved(tmp_path, seed=0)
    saved(tmp_path, seed=1)
    assert load(path)['meta']['epoch'] == 1


def test_removing_a_checkpoint_through_the_backend_removes_its_sidecar(tmp_path):
    # CheckpointHook's max_keep_ckpts and save_best remove old checkpoints this way
    from mmengine.fileio import get_file_backend
    path = saved(tmp_path)
    get_file_backend(path).remove(path)
    assert os.listdir(tmp_path) == []


def work_dir_with(tmp_path, damaged: dict) -> str:
    """A work dir with epoch_1..3.pth, ``last_checkpoint`` naming epoch_3, and the given
    checkpoints damaged ({epoch: change})."""
    work_dir = tmp_path / 'work'
    work_dir.mkdir()
    for epoch in (1, 2, 3):
        path = saved(work_dir, f'epoch_{epoch}.pth', seed=epoch)
        if epoch in damaged:
            rewrite(path, damaged[epoch])
    (work_dir / 'last_checkpoint').write_text(str(work_dir / 'epoch_3.pth'))
    return str(work_dir)


@pytest.fixture
def warnings(monkeypatch) -> list:
    logged = []
    monkeypatch.setattr(runner_setup, 'print_log', lambda message, **kw: logged.append(message))
    return logged


def test_resume_fallback_takes_the_newest_intact_checkpoint(tmp_path, warnings):
    work_dir = work_dir_with(tmp_path, {3: truncate(0.5), 2: flip(0.5)})
    assert runner_setup.resume_fallback(work_dir) == osp.join(work_dir, 'epoch_1.pth')
    assert len(warnings) == 1
    assert osp.join(work_dir, 'epoch_3.pth') in warnings[0]
    assert osp.join(work_dir, 'epoch_1.pth') in warnings[0]
    assert 'damaged' in warnings[0]


def test_resume_fallback_leaves_an_intact_latest_to_mmengine(tmp_path, warnings):
    assert runner_setup.resume_fallback(work_dir_with(tmp_path, {2: truncate(0.5)})) is None
    assert runner_setup.resume_fallback(str(tmp_path)) is None  # no last_checkpoint
    assert warnings == []


def test_resume_fallback_without_any_intact_checkpoint_says_so(tmp_path, warnings):
    work_dir = work_dir_with(tmp_path, {epoch: truncate(0.5) for epoch in (1, 2, 3)})
    with pytest.raises(CheckpointDamagedError, match='no other epoch_.* is intact'):
        runner_setup.resume_fallback(work_dir)


@pytest.mark.slow
def test_train_resume_falls_back_past_a_damaged_checkpoint(tiny_data, tmp_path):
    config = write_run_config(str(tmp_path))
    work_dir = str(tmp_path / 'work')

    def train(*extra):
        return run_tool([PYTHON, 'tools/train.py', config, *extra, '--no-validate',
                         '--work-dir', work_dir, '--cfg-options', *data_options(tiny_data),
                         'train_cfg.max_epochs=2'])

    train()
    damaged = osp.join(work_dir, 'epoch_2.pth')
    rewrite(damaged, truncate(0.6))
    proc = train('--resume')
    log = proc.stdout + proc.stderr
    assert (f'--resume: {damaged} (named by {osp.join(work_dir, "last_checkpoint")}) cannot '
            'be used') in log
    assert f'resuming from {osp.join(work_dir, "epoch_1.pth")}' in log
    assert 'resumed epoch: 1' in log and 'Epoch(train) [2]' in log
    assert load(damaged)['meta']['epoch'] == 2  # saved again, with a matching sidecar
