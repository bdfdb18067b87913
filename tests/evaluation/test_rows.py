"""Frame-detection rows (point3d_mm/evaluation/functional/rows.py): the split, the checks,
the alignment to a split and the conversions between predictions, rows and samples."""
import numpy as np
import pytest
import torch

from point3d_mm.evaluation.functional import (
    align_rows,
    check_rows,
    clip_rows,
    frame_ap,
    rows_from_clips,
    rows_to_samples,
    split_videos,
)

GT = dict(labels=['run', 'jump'], test_videos=[['a', 'b'], ['c']],
          gttubes={v: {0: [np.array([[1, 0, 0, 10, 10]], np.float32)]} for v in 'abc'})


def test_split_videos_picks_and_checks_the_split():
    assert split_videos(GT, 1) == ['a', 'b'] and split_videos(GT, 2) == ['c']
    with pytest.raises(ValueError, match=r'^gt.pkl: split 3 does not exist: .* 2 test split'):
        split_videos(GT, 3, source='gt.pkl')
    with pytest.raises(ValueError, match="no 'test_videos' key"):
        split_videos(dict(labels=[], gttubes={}), 1)
    with pytest.raises(ValueError, match="test video 'z' has no entry"):
        split_videos(dict(GT, test_videos=[['a', 'z']]), 1)


@pytest.mark.parametrize('column,value,message', [
    (3, np.nan, r'd.npz: 1 detection\(s\) hold NaN or infinite values, e.g. row 1 score=nan'),
    (5, np.inf, r'd.npz: .* row 1 y1=inf'),
    (1, 2.5, r'd.npz: frame must be whole numbers, row 1 has 2.5'),
    (2, 2, r"d.npz: detection labels must lie in \[0, 2\), the ground truth's classes"),
    (0, 7, r'd.npz: detection video indices must lie in \[0, 2\)'),
])
def test_check_rows_names_the_source_and_the_fault(column, value, message):
    rows = np.array([[0, 1, 0, 0.9, 0, 0, 10, 10], [1, 2, 1, 0.5, 0, 0, 10, 10]])
    assert check_rows(rows, 2, 2).dtype == np.float64
    rows[1, column] = value
    with pytest.raises(ValueError, match=message):
        check_rows(rows, 2, 2, source='d.npz')
    with pytest.raises(ValueError, match=r'd.npz: detections must be \(D, 8\)'):
        check_rows(rows[:, :7], source='d.npz')
    assert check_rows(np.zeros((0, 3))).shape == (0, 8)


def test_a_nan_score_is_refused_not_ranked_first():
    # A NaN score sorts first and used to make this detection a true positive: AP 1.
    rows = np.array([[0, 1, 0, np.nan, 0, 0, 10, 10]])
    with pytest.raises(ValueError, match='NaN'):
        frame_ap(GT, rows, ['a', 'b'])


def test_align_rows_renumbers_drops_other_splits_and_refuses_other_datasets():
    rows = np.array([[0, 1, 0, 0.9, 0, 0, 10, 10],    # 'c': split 2, dropped
                     [1, 1, 0, 0.8, 0, 0, 10, 10],    # 'b' -> index 1
                     [2, 1, 1, 0.7, 0, 0, 10, 10]])   # 'a' -> index 0
    kept, outside = align_rows(rows, ['c', 'b', 'a'], ['a', 'b'], known=GT['gttubes'])
    assert kept[:, 0].tolist() == [1, 0] and kept[:, 3].tolist() == [0.8, 0.7]
    assert outside == ['c']
    bare, outside = align_rows(rows[1:], None, ['a', 'b', 'c'])
    assert np.array_equal(bare, rows[1:]) and outside == []
    with pytest.raises(ValueError, match=r"x.csv: 1 of its 3 videos are not in the ground "
                                         r"truth \(a file of another dataset\?\), e.g. \['q'\]"):
        align_rows(rows, ['c', 'q', 'a'], ['a', 'b'], known=GT['gttubes'], source='x.csv')
    with pytest.raises(ValueError, match=r'video indices must lie in \[0, 2\)'):
        align_rows(rows, ['c', 'b'], ['a', 'b'])


def test_predictions_rows_and_samples_convert_both_ways():
    rng = np.random.default_rng(0)
    rows = np.column_stack([rng.integers(0, 2, 12), rng.integers(1, 6, 12),
                            rng.integers(0, 2, 12), rng.random(12), rng.random((12, 4)) * 50])
    rows = rows[np.lexsort((rows[:, 1], rows[:, 0]))]
    samples = rows_to_samples(rows, ['a', 'b'])
    assert [s['video'] for s in samples] == ['a', 'b']
    # Each sample back to clip rows (tensors, as a model returns them), then to (D, 8) rows.
    clips = [dict(video=s['video'], rows=clip_rows(
        {k: torch.as_tensor(v) for k, v in s['pred_instances'].items()}, s['frame_ids']))
        for s in samples]
    assert np.allclose(rows_from_clips(clips, ['a', 'b']), rows)


def test_rows_from_clips_keeps_the_first_clip_of_a_frame():
    first = np.array([[3, 0, 0.9, 0, 0, 5, 5]])
    second = np.array([[3, 1, 0.8, 1, 1, 6, 6], [4, 1, 0.7, 1, 1, 6, 6]])
    rows = rows_from_clips([dict(video='b', rows=second[1:]), dict(video='a', rows=first),
                            dict(video='a', rows=second), dict(video='z', rows=first)],
                           ['a', 'b'])
    # Frame 3 of 'a' from the first clip that reported it; 'z' is not evaluated; sorted.
    assert rows[:, :4].tolist() == [[0, 3, 0, 0.9], [0, 4, 1, 0.7], [1, 4, 1, 0.7]]
    key_frame = clip_rows(dict(labels=[1], scores=[0.5], bboxes=[[1, 2, 3, 4]]), [7, 8, 9], 1)
    assert key_frame.tolist() == [[8, 1, 0.5, 1, 2, 3, 4]]
