"""The GPU kit (tools/device/): the stand-in for mmcv's compiled ``_ext`` against mmcv's own
kernels (where this mmcv has them) and against itself on torchvision, and the CPU rehearsal
of the whole device check in a fresh Python 3.12 environment (slow)."""
import importlib
import json
import os
import os.path as osp
import subprocess

import pytest
import torch
from tool_helpers import REPO_ROOT, load_tool

standin = load_tool('device/mmcv_ext_standin.py')
ROI_ALIGN_CASES = [  # spatial_scale, sampling_ratio, aligned
    (0.25, 0, True), (0.25, 2, True), (1.0, 0, False), (0.5, 3, False)]


def compiled_ext():
    """mmcv's compiled ``_ext``, or a skip where this mmcv is the kit's (no ops)."""
    ext = pytest.importorskip('mmcv._ext')
    if not ext.__file__.endswith('.so'):
        pytest.skip(f'mmcv._ext is not compiled here ({ext.__file__})')
    return ext


def features_and_rois(device='cpu'):
    """(2, 3, 13, 17) maps and rois (input pixels, map stride 4 at scale 0.25): inside,
    across every border, smaller than a bin, empty, and wholly outside."""
    generator = torch.Generator().manual_seed(0)
    maps = torch.randn(2, 3, 13, 17, generator=generator)
    rois = torch.tensor([[0, 4.0, 6.0, 40.0, 30.0], [1, -10.0, -6.0, 20.0, 70.0],
                         [1, 50.0, 30.0, 90.0, 60.0], [0, 12.3, 9.7, 13.1, 10.2],
                         [1, 8.0, 8.0, 8.0, 8.0], [0, -40.0, -30.0, -20.0, -12.0],
                         [0, 1.5, 2.5, 66.0, 50.5]])
    return maps.to(device), rois.to(device)


def roi_align_with(ext, maps, rois, scale, ratio, aligned):
    """Forward and input gradient of mmcv's RoIAlign (7x7 avg) with ``ext`` as its kernels."""
    roi_align_module = importlib.import_module('mmcv.ops.roi_align')  # the module, not the op
    saved = roi_align_module.ext_module
    roi_align_module.ext_module = ext
    try:
        maps = maps.clone().requires_grad_(True)
        out = roi_align_module.roi_align(maps, rois, (7, 5), scale, ratio, 'avg', aligned)
        weights = torch.linspace(-1, 1, out.numel(), device=out.device).view_as(out)
        (grad, ) = torch.autograd.grad((out * weights).sum(), maps)
    finally:
        roi_align_module.ext_module = saved
    return out.detach(), grad


@pytest.mark.parametrize('scale,ratio,aligned', ROI_ALIGN_CASES)
def test_standin_roi_align_equals_mmcv_kernels(scale, ratio, aligned, monkeypatch):
    ext = compiled_ext()
    monkeypatch.setattr(standin, 'BACKEND', 'torch')  # torchvision does not import here
    maps, rois = features_and_rois()
    want_out, want_grad = roi_align_with(ext, maps, rois, scale, ratio, aligned)
    out, grad = roi_align_with(standin, maps, rois, scale, ratio, aligned)
    assert want_out.abs().sum() > 0 and (want_out == 0).any()  # the outside RoI
    torch.testing.assert_close(out, want_out, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(grad, want_grad, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize('offset', [0, 1])
def test_standin_nms_equals_mmcv_kernels(offset, monkeypatch):
    ext = compiled_ext()
    monkeypatch.setattr(standin, 'BACKEND', 'torch')
    generator = torch.Generator().manual_seed(1)
    corners = torch.rand(60, 2, generator=generator) * 50
    boxes = torch.cat([corners, corners + 5 + torch.rand(60, 2, generator=generator) * 20], 1)
    scores = torch.rand(60, generator=generator)
    for thr in (0.3, 0.6):
        want = ext.nms(boxes, scores, iou_threshold=thr, offset=offset)
        got = standin.nms(boxes, scores, iou_threshold=thr, offset=offset)
        assert 5 < len(want) < 60
        assert got.tolist() == want.tolist()


def test_other_kernels_exist_and_fail_by_name():
    """mmcv's loader asserts that every kernel of an op module exists: any name resolves,
    and calling one that is not implemented names it."""
    assert hasattr(standin, 'deform_conv_forward')
    with pytest.raises(NotImplementedError, match=r'mmcv\._ext\.deform_conv_forward: .*'
                       r'implements only roi_align_forward'):
        standin.deform_conv_forward(torch.zeros(1))
    with pytest.raises(NotImplementedError, match="pool_mode='max'"):
        standin.roi_align_forward(*features_and_rois(), torch.zeros(7, 3, 7, 7), None, None,
                                  aligned_height=7, aligned_width=7, spatial_scale=1.0,
                                  sampling_ratio=0, pool_mode=0, aligned=True)
    assert not hasattr(standin, '__path__')  # not a package to importlib


@pytest.mark.parametrize('device', ['cpu', 'cuda'])
def test_standin_torchvision_path_equals_torch_path(device, monkeypatch):
    """Where torchvision imports (the GPU machine, the rehearsal), its kernels give what the
    plain-torch path (compared with mmcv's kernels above) gives."""
    if standin.tv_ops is None:
        pytest.skip('torchvision does not import beside this torch')
    if device == 'cuda' and not torch.cuda.is_available():
        pytest.skip('no CUDA device')
    maps, rois = features_and_rois(device)
    for scale, ratio, aligned in ROI_ALIGN_CASES:
        monkeypatch.setattr(standin, 'BACKEND', 'torch')
        want = roi_align_with(standin, maps, rois, scale, ratio, aligned)
        monkeypatch.setattr(standin, 'BACKEND', 'torchvision')
        got = roi_align_with(standin, maps, rois, scale, ratio, aligned)
        for a, b in zip(got, want):
            torch.testing.assert_close(a, b, atol=1e-5, rtol=1e-5)
    boxes = torch.tensor([[0, 0, 10, 10], [1, 1, 11, 11], [20, 20, 30, 30.0]], device=device)
    scores = torch.tensor([0.5, 0.9, 0.1], device=device)
    assert standin.nms(boxes, scores, 0.5).tolist() == [1, 2]


def fake_wheel(folder, name: str, version: str, requires=()) -> str:
    """A wheel holding only its METADATA (what the kit builder reads)."""
    import zipfile
    path = osp.join(folder, f'{name}-{version}-py3-none-any.whl')
    metadata = f'Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n' + ''.join(
        f'Requires-Dist: {r}\n' for r in requires)
    with zipfile.ZipFile(path, 'w') as wheel:
        wheel.writestr(f'{name}-{version}.dist-info/METADATA', metadata)
    return path


def test_kit_closure_names_each_unmet_requirement(tmp_path):
    """A kit wheel's requirement must be met by the kit (at a matching version), the image or
    a requirement left out on purpose; markers of other platforms and extras do not count."""
    build = load_tool('device/build_gpu_kit.py')
    wheels = {
        'mmengine': fake_wheel(tmp_path, 'mmengine', '0.10.7', [
            'addict', 'numpy', 'opencv-python>=3', 'regex; sys_platform == "win32"',
            'yapf']),
        'addict': fake_wheel(tmp_path, 'addict', '2.4.0'),
        'mmdet': fake_wheel(tmp_path, 'mmdet', '3.3.0', [
            'addict>=3', 'shapely', 'pytest; extra == "tests"'])}
    assert build.check_closure(wheels, image={'numpy'}) == [
        'mmengine needs yapf: neither in the kit nor in the image',
        'mmdet needs addict>=3, the kit has 2.4.0',
        'mmdet needs shapely: neither in the kit nor in the image']


def test_pip_check_flags_only_kit_wheels_unmet_requirements():
    check = load_tool('device/gpu_check.py')
    kit = dict(wheels={'mmengine': '0.10.7', 'mmcv': '2.1.0+p3d.standin'},
               not_carried={'opencv-python': 'the image has opencv-python-headless'})
    output = ('mmengine 0.10.7 requires opencv-python, which is not installed.\n'
              'mmcv 2.1.0+p3d.standin requires yapf, which is not installed.\n'
              'jax 0.11.2 requires jaxlib, which is not installed.\n'
              'mmengine 0.10.7 has requirement rich>=99, but you have rich 15.0.0.\n')
    assert check.pip_check_problems(output, kit) == [
        'mmcv 2.1.0+p3d.standin requires yapf, which is not installed.',
        'mmengine 0.10.7 has requirement rich>=99, but you have rich 15.0.0.']


@pytest.mark.slow
def test_cpu_rehearsal_from_the_kit_alone(tmp_path):
    """`make gpu-rehearsal`: the kit built now, installed with no index into a fresh
    Python 3.12 beside a CPU stand-in for the GPU image, runs every section of the device
    check on CPU (minutes; the first run also builds that base environment)."""
    out = tmp_path / 'out'
    env = {**os.environ, 'REHEARSAL_OUT': str(out)}
    proc = subprocess.run(['make', '-C', REPO_ROOT, 'gpu-rehearsal'], env=env,
                          capture_output=True, text=True, timeout=3600)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    with open(osp.join(out, 'gpu_check.json')) as f:
        report = json.load(f)
    check = load_tool('device/gpu_check.py')
    assert list(report['sections']) == list(check.SECTIONS)
    assert {name: s['status'] for name, s in report['sections'].items()} == dict.fromkeys(
        check.SECTIONS, 'ok')
    assert report['sections']['install']['result']['kit_wheels'] >= 10
    assert report['device'] == 'cpu' and report['sections']['train']['result']['iterations'] > 0
