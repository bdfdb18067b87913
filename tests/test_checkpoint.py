"""point3d_mm.utils.checkpoint: weights-only loading with an allow-list, and the digest of the
weights that a checkpoint carries in its own ``meta``, so that one copied alone (no
``.sha256`` sidecar beside it) whose tensor bytes changed is refused too."""
import os
import shutil

import numpy as np
import pytest
import torch
from mmengine.runner.checkpoint import _load_checkpoint, save_checkpoint

import point3d_mm  # noqa: F401  (routes mmengine's checkpoint reads and writes)
from point3d_mm.utils.checkpoint import (
    DIGEST_KEY,
    CheckpointDamagedError,
    CheckpointSecurityError,
    sidecar_path,
    state_dict_digest,
    with_state_dict_digest,
)


class Evil:

    def __reduce__(self):
        return (os.system, ('echo pwned',))


def test_checkpoint_with_arbitrary_callable_is_refused(tmp_path):
    path = tmp_path / 'evil.pth'
    torch.save({'state_dict': {}, 'meta': Evil()}, path)
    with pytest.raises(CheckpointSecurityError) as error:
        _load_checkpoint(str(path), map_location='cpu')
    message = str(error.value)
    assert 'evil.pth' in message and 'system' in message
    assert 'weights_only=False' not in message


def test_mmengine_checkpoint_loads_weights_only(tmp_path):
    """A checkpoint holding what mmengine's Runner saves loads through the allow-list."""
    from mmengine.logging import HistoryBuffer, MessageHub
    hub = MessageHub.get_instance('checkpoint_test')
    hub.update_scalar('train/loss', np.float32(0.5))
    hub.update_scalar('train/loss', 0.25)
    hub.update_info('iter', 3)
    checkpoint = dict(
        meta=dict(epoch=1, iter=3, seed=np.int64(7), scores=np.arange(3, dtype=np.float32)),
        state_dict={'w': torch.ones(2)},
        message_hub=hub.state_dict())
    path = str(tmp_path / 'epoch_1.pth')
    save_checkpoint(checkpoint, path)
    loaded = _load_checkpoint(path, map_location='cpu')
    buffer = loaded['message_hub']['log_scalars']['train/loss']
    assert isinstance(buffer, HistoryBuffer)
    assert buffer.mean() == pytest.approx(0.375) and buffer.current() == 0.25
    assert loaded['meta']['seed'] == 7
    np.testing.assert_array_equal(loaded['meta']['scores'], [0, 1, 2])


# --- the weights' digest ------------------------------------------------------------------

def weights(seed: int = 0) -> dict:
    generator = torch.Generator().manual_seed(seed)
    return {'conv.weight': torch.randn(16, 8, 3, 3, generator=generator),
            'conv.bias': torch.randn(16, generator=generator),
            'bn.num_batches_tracked': torch.tensor(5)}


def save_copied_alone(folder, state_dict: dict, name: str = 'iter_2000.pth') -> str:
    """Save through mmengine (as CheckpointHook does), then copy the file alone elsewhere, as
    ``scp iter_2000.pth`` leaves it: no sidecar beside the copy."""
    saved = str(folder / 'work' / name)
    os.makedirs(os.path.dirname(saved))
    save_checkpoint({'meta': {'iter': 2000}, 'state_dict': state_dict}, saved)
    assert os.path.isfile(sidecar_path(saved))
    copy = str(folder / name)
    shutil.copy(saved, copy)
    assert not os.path.exists(sidecar_path(copy))
    return copy


def flip_bit_in_tensor(path: str, tensor: torch.Tensor) -> None:
    """Flip one bit in the middle of ``tensor``'s bytes inside the file (torch stores them
    uncompressed)."""
    with open(path, 'rb') as f:
        data = bytearray(f.read())
    raw = tensor.numpy().tobytes()
    at = data.find(raw)
    assert at > 0 and data.find(raw, at + 1) == -1
    data[at + len(raw) // 2] ^= 0x04
    with open(path, 'wb') as f:
        f.write(data)


def test_digest_is_a_function_of_keys_dtypes_shapes_and_bits():
    state = weights()
    digest = state_dict_digest(state)
    assert len(digest) == 64 and digest == state_dict_digest(weights())  # equal copies
    assert digest != state_dict_digest(weights(seed=1))
    changed = {key: value.clone() for key, value in state.items()}
    changed['conv.weight'].view(-1)[100] = torch.nextafter(
        changed['conv.weight'].view(-1)[100], torch.tensor(10.))  # one ulp
    assert state_dict_digest(changed) != digest
    renamed = {('conv.b' if key == 'conv.bias' else key): value for key, value in state.items()}
    assert state_dict_digest(renamed) != digest
    # the same bytes under another shape or dtype are other weights
    reshaped = dict(state, **{'conv.weight': state['conv.weight'].reshape(8, 16, 3, 3)})
    assert state_dict_digest(reshaped) != digest
    retyped = dict(state, **{'conv.bias': state['conv.bias'].view(torch.int32)})
    assert state_dict_digest(retyped) != digest
    # where a tensor lives and how it is laid out in memory do not count
    transposed = state['conv.weight'].transpose(0, 1).contiguous().transpose(0, 1)
    assert not transposed.is_contiguous()
    assert state_dict_digest(dict(state, **{'conv.weight': transposed})) == digest
    assert state_dict_digest({'x': torch.ones(3, dtype=torch.bfloat16)}) != state_dict_digest(
        {'x': torch.ones(3, dtype=torch.float16)})


def test_saving_adds_the_digest_to_meta_without_changing_the_callers_dict(tmp_path):
    checkpoint = {'meta': {'iter': 3}, 'state_dict': weights()}
    path = str(tmp_path / 'iter_3.pth')
    save_checkpoint(checkpoint, path)
    assert checkpoint['meta'] == {'iter': 3}
    loaded = torch.load(path, weights_only=True)  # torch's own reader: what the file holds
    assert loaded['meta'] == {'iter': 3, DIGEST_KEY: state_dict_digest(weights())}
    assert with_state_dict_digest({'state_dict': {}})['meta'] == {
        DIGEST_KEY: state_dict_digest({})}  # a checkpoint without meta gets one
    assert with_state_dict_digest([1, 2]) == [1, 2]  # not a checkpoint: as it is


def test_checkpoint_copied_alone_with_a_flipped_bit_in_a_tensor_is_refused(tmp_path):
    state = weights()
    copy = save_copied_alone(tmp_path, state)
    flip_bit_in_tensor(copy, state['conv.weight'])
    with pytest.raises(CheckpointDamagedError,
                       match=f'{copy}: the checkpoint is damaged \\(its state_dict differs '
                       f"from the SHA-256 in its meta \\['{DIGEST_KEY}'\\]"):
        _load_checkpoint(copy, map_location='cpu')


def test_the_same_flip_loads_silently_without_the_digest(tmp_path):
    # What the digest closes: torch reads the changed weights without a word (it does not
    # check the zip members' CRCs), and so does a checkpoint saved before the digest existed.
    state = weights()
    path = str(tmp_path / 'old.pth')
    torch.save({'meta': {'iter': 2000}, 'state_dict': state}, path)
    flip_bit_in_tensor(path, state['conv.weight'])
    loaded = _load_checkpoint(path, map_location='cpu')['state_dict']
    differs = (loaded['conv.weight'] != state['conv.weight']).flatten().nonzero()
    assert len(differs) == 1
    torch.testing.assert_close(loaded['conv.bias'], state['conv.bias'])


def test_intact_checkpoint_copied_alone_loads(tmp_path):
    state = weights()
    loaded = _load_checkpoint(save_copied_alone(tmp_path, state), map_location='cpu')
    assert loaded['meta']['iter'] == 2000
    assert list(loaded['state_dict']) == list(state)
    for key, value in state.items():
        assert torch.equal(loaded['state_dict'][key], value)


def test_checkpoint_without_digest_loads_as_before(tmp_path):
    # Weights from elsewhere, or ours saved before the digest: nothing to check them against.
    state = weights()
    path = str(tmp_path / 'pretrained.pth')
    torch.save({'meta': {'epoch': 1}, 'state_dict': state}, path)
    loaded = _load_checkpoint(path, map_location='cpu')
    assert loaded['meta'] == {'epoch': 1}
    for key, value in state.items():
        assert torch.equal(loaded['state_dict'][key], value)
