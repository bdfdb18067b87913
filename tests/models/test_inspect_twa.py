"""tools/analysis/inspect_twa.py (point3d_mm.analysis.twa_inspection) and attention_matrix:
statistics of TWA's M by hand."""
import json
import math
import os.path as osp

import cv2
import numpy as np
import pytest
import torch
from tool_helpers import REPO_ROOT, load_tool

from point3d_mm.analysis import twa_inspection
from point3d_mm.models.necks.time_wise_attention import TimeWiseAttention, attention_matrix

inspect_twa = load_tool('analysis/inspect_twa.py')


@pytest.mark.parametrize('scale', ['sqrt_d', None, 'l2_temperature'])
def test_identical_frames_give_uniform_attention(scale):
    frames = torch.randn(1, 1, 3, 4, 5).expand(1, 6, 3, 4, 5)
    m = attention_matrix(frames, scale)[0]
    torch.testing.assert_close(m, torch.full((6, 6), 1 / 6))
    stats = twa_inspection.attention_stats(m)
    assert stats['off_diagonal'] == pytest.approx(1 - 1 / 6)
    assert stats['row_entropy'] == pytest.approx(math.log(6))
    assert stats['row_entropy_norm'] == pytest.approx(1.0)


def test_very_different_frames_give_one_hot_attention():
    # Orthogonal frames of norm 100 (D = 4): logits 1e4 / 2 on the diagonal, 0 elsewhere.
    frames = (100 * torch.eye(4)).view(1, 4, 4, 1, 1)
    m = attention_matrix(frames, 'sqrt_d')[0]
    torch.testing.assert_close(m, torch.eye(4))
    stats = twa_inspection.attention_stats(m)
    assert stats['off_diagonal'] == pytest.approx(0, abs=1e-12)
    assert stats['row_entropy'] == pytest.approx(0, abs=1e-12)
    # The same frames, L2-normalised with tau = 1: logits 1 on the diagonal, 0 elsewhere,
    # so M_ii = e / (e + 3) and the off-diagonal mass 3 / (e + 3).
    m = attention_matrix(frames, 'l2_temperature', 1.0)[0]
    diag = math.e / (math.e + 3)
    stats = twa_inspection.attention_stats(m)
    assert stats['off_diagonal'] == pytest.approx(3 / (math.e + 3))
    expected = -(diag * math.log(diag) + 3 * (1 - diag) / 3 * math.log((1 - diag) / 3))
    assert stats['row_entropy'] == pytest.approx(expected)


def test_two_frame_stats_by_hand():
    # M = [[3/4, 1/4], [1/2, 1/2]]: off-diagonal (1/4 + 1/2) / 2 = 0.375; entropies
    # -(3/4 ln 3/4 + 1/4 ln 1/4) = 0.5623 and ln 2 = 0.6931, mean 0.6277.
    m = torch.tensor([[0.75, 0.25], [0.5, 0.5]])
    stats = twa_inspection.attention_stats(m)
    assert stats['off_diagonal'] == pytest.approx(0.375)
    assert stats['row_entropy'] == pytest.approx(
        (-(0.75 * math.log(0.75) + 0.25 * math.log(0.25)) + math.log(2)) / 2)
    summary = twa_inspection.summarize([dict(a=1.0), dict(a=3.0)])
    assert summary == dict(mean_a=2.0, min_a=1.0)
    assert twa_inspection.clip_frame_numbers(2, 3, 2) == [[1, 3, 5], [7, 9, 11]]


def test_tool_on_tiny_model(tmp_path, capsys):
    """The tiny model on a folder of identical frames: features are identical, so every
    scaling gives a uniform M (off-diagonal 1 - 1/T, entropy log T) for both clips."""
    folder = tmp_path / 'frames'
    folder.mkdir()
    frame = np.random.default_rng(0).integers(0, 255, (96, 128, 3), dtype=np.uint8)
    for i in range(1, 17):
        cv2.imwrite(str(folder / f'{i:05d}.jpg'), frame)
    out = tmp_path / 'twa.json'
    config = osp.join(REPO_ROOT, 'configs', 'point3d_tiny_synthetic.py')
    assert inspect_twa.main([config, '--video', str(folder), '--clips', '2',
                             '--out', str(out)]) == 0
    result = json.loads(out.read_text())
    assert result['weights'] == 'random init' and result['clip_len'] == 8
    assert set(result['variants']) == {'model (raw_gram)', 'sqrt_d', 'raw_gram',
                                       'l2_temperature(tau=1)'}
    for data in result['variants'].values():
        assert [c['first_frame'] for c in data['per_clip']] == [1, 9]
        assert data['summary']['min_off_diagonal'] == pytest.approx(1 - 1 / 8, abs=1e-4)
        assert data['summary']['mean_row_entropy'] == pytest.approx(math.log(8), abs=1e-4)
    assert '| model (raw_gram) | mean | 0.8750 | 2.0794 | 1.0000 |' in capsys.readouterr().out


def test_model_scale_names_the_models_twa():
    """The model's own row: its neck's scale, or the class default (raw Gram) without one."""
    class Model(torch.nn.Module):
        pass
    model = Model()
    model.neck = None
    assert twa_inspection.model_scale(model) == ('model (no neck; raw_gram)', None, None)
    model.neck = TimeWiseAttention()
    assert twa_inspection.model_scale(model) == ('model (raw_gram)', None, None)
    model.neck = TimeWiseAttention(scale='sqrt_d')
    assert twa_inspection.model_scale(model) == ('model (sqrt_d)', 'sqrt_d', None)
