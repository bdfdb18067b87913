"""The stand-in for mmcv's compiled ``_ext`` (tools/device/mmcv_ext_standin.py), on both of
its paths (torchvision.ops, what the GPU machine runs, and plain torch, its fallback), against
mmcv's compiled RoIAlign (outputs and input gradients) and NMS.

mmcv's compiled kernels and torchvision are not installed together anywhere this project
runs (the project's environment has the compiled mmcv, the GPU machine and the CPU rehearsal
have torchvision and the kit's mmcv), so the kernels' results are recorded on fixed inputs
(tools/device/record_mmcv_kernels.py, tests/tools/data/mmcv_compiled_kernels.npz): where the
compiled mmcv is installed the record is recomputed and must equal the file, and every path
that imports here is compared with the record, through mmcv's own RoIAlign and NMS wrappers.
The rehearsal and the device check run this file (tools/device/gpu_check.py TESTS)."""
import pytest
import torch
from tool_helpers import load_tool

recorder = load_tool('device/record_mmcv_kernels.py')
standin = load_tool('device/mmcv_ext_standin.py')
# float32 RoIAlign: a bin averages up to 4 x 4 bilinear samples of 4 values each, the input
# gradient sums a few such terms; 1e-5 is above any difference of summation order (also the
# atomic adds of torchvision's CUDA backward), far below a wrong sample or weight (> 1e-2).
TOLERANCE = dict(atol=1e-5, rtol=1e-5)
BACKENDS = ['torchvision', 'torch']
DEVICES = ['cpu', 'cuda']


@pytest.fixture(scope='module')
def reference() -> dict:
    return recorder.load_reference()


def use_backend(backend: str, device: str, monkeypatch) -> None:
    if backend == 'torchvision' and standin.tv_ops is None:
        pytest.skip('torchvision does not import beside this torch (the GPU machine and the '
                    'CPU rehearsal have it)')
    if device == 'cuda':
        if not torch.cuda.is_available():
            pytest.skip('no CUDA device')
        # the plain-torch path interpolates with matrix products: no TF32 rounding in them
        monkeypatch.setattr(torch.backends.cuda.matmul, 'allow_tf32', False)
    monkeypatch.setattr(standin, 'BACKEND', backend)


def test_record_is_mmcv_compiled_output(reference):
    """Where mmcv's compiled kernels are installed, they give the recorded results now; the
    inputs cover what the comparisons need (an RoI wholly outside: zeros; suppressed and
    kept boxes)."""
    ext = recorder.compiled_ext()
    if ext is None:
        pytest.skip('mmcv has no compiled ops here (the kit\'s stand-in, or no ops)')
    inputs = {key: reference[key] for key in ('maps', 'rois', 'boxes', 'scores')}
    live = recorder.record(ext, inputs)
    assert sorted(live) == sorted(set(reference) - set(inputs))
    for key, value in live.items():
        torch.testing.assert_close(value, reference[key], atol=1e-6, rtol=1e-6, msg=key)
    for i in range(len(recorder.ROI_ALIGN_CASES)):
        out = reference[f'roi_align_out_{i}']
        assert out.abs().sum() > 0 and (out[5] == 0).all()  # roi 5 lies outside the maps
    for i in range(len(recorder.NMS_CASES)):
        assert 5 < len(reference[f'nms_keep_{i}']) < 60


@pytest.mark.parametrize('device', DEVICES)
@pytest.mark.parametrize('backend', BACKENDS)
def test_standin_roi_align_equals_mmcv_compiled(backend, device, reference, monkeypatch):
    use_backend(backend, device, monkeypatch)
    maps, rois = reference['maps'].to(device), reference['rois'].to(device)
    for i, case in enumerate(recorder.ROI_ALIGN_CASES):
        out, grad = recorder.roi_align_with(standin, maps, rois, *case)
        torch.testing.assert_close(out.cpu(), reference[f'roi_align_out_{i}'], **TOLERANCE,
                                   msg=lambda m: f'output, case {case}: {m}')
        torch.testing.assert_close(grad.cpu(), reference[f'roi_align_grad_{i}'], **TOLERANCE,
                                   msg=lambda m: f'input gradient, case {case}: {m}')


@pytest.mark.parametrize('device', DEVICES)
@pytest.mark.parametrize('backend', BACKENDS)
def test_standin_nms_equals_mmcv_compiled(backend, device, reference, monkeypatch):
    use_backend(backend, device, monkeypatch)
    boxes, scores = reference['boxes'].to(device), reference['scores'].to(device)
    for i, (threshold, offset) in enumerate(recorder.NMS_CASES):
        keep = standin.nms(boxes, scores, iou_threshold=threshold, offset=offset)
        assert keep.cpu().tolist() == reference[f'nms_keep_{i}'].tolist(), (threshold, offset)


def test_other_kernels_exist_and_fail_by_name():
    """mmcv's loader asserts that every kernel of an op module exists: any name resolves,
    and calling one that is not implemented names it."""
    assert hasattr(standin, 'deform_conv_forward')
    with pytest.raises(NotImplementedError, match=r'mmcv\._ext\.deform_conv_forward: .*'
                       r'implements only roi_align_forward'):
        standin.deform_conv_forward(torch.zeros(1))
    inputs = recorder.make_inputs()
    with pytest.raises(NotImplementedError, match="pool_mode='max'"):
        standin.roi_align_forward(inputs['maps'], inputs['rois'], torch.zeros(7, 3, 7, 7), None,
                                  None, aligned_height=7, aligned_width=7, spatial_scale=1.0,
                                  sampling_ratio=0, pool_mode=0, aligned=True)
    assert not hasattr(standin, '__path__')  # not a package to importlib
