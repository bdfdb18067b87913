"""ONNX export of the per-frame and temporal parts matches PyTorch under onnxruntime."""
import onnx
import pytest
from performance_helpers import tiny_detector

from point3d_mm.apis.export import export_onnx, onnx_parity

CLIP_LEN, INPUT_SIZE = 8, 128


@pytest.fixture(scope='module')
def exported(tmp_path_factory):
    model = tiny_detector(CLIP_LEN)
    paths = export_onnx(model, str(tmp_path_factory.mktemp('onnx')), CLIP_LEN, INPUT_SIZE)
    return model, paths


def test_exported_graphs_are_valid(exported):
    _, paths = exported
    frame_part = onnx.load(paths['frame_part'])
    onnx.checker.check_model(frame_part)
    assert [out.name for out in frame_part.graph.output] == [
        'feats', 'center_heatmap', 'wh', 'offset', 'knot_heatmap', 'knot_dist', 'knot_offset']
    temporal_part = onnx.load(paths['temporal_part'])
    onnx.checker.check_model(temporal_part)
    dims = temporal_part.graph.input[0].type.tensor_type.shape.dim
    assert [dim.dim_value for dim in dims] == [1, CLIP_LEN, 32, INPUT_SIZE // 4, INPUT_SIZE // 4]


@pytest.mark.parametrize('num_frames', [1, CLIP_LEN])
def test_onnxruntime_matches_pytorch(exported, num_frames):
    """One frame (streaming) or a clip's frames through the frame part, then the clip."""
    model, paths = exported
    diffs = onnx_parity(model, paths, CLIP_LEN, INPUT_SIZE, num_frames=num_frames)
    assert set(diffs) >= {'frame_part/feats', 'frame_part/center_heatmap',
                          'temporal_part/logits'}
    assert max(diffs.values()) < 1e-4, diffs
