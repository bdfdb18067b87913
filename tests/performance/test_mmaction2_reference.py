"""benchmark_eval.py's peer (point3d_mm.analysis.evaluation_speed.mmaction2_reference):
mmaction2's own ``multisports_utils`` functions, its tube linking with the score defect of
``get_vid_dets`` fixed, and nothing of mmaction2 replaced."""
import numpy as np
import pytest
from mmaction.evaluation.functional import multisports_utils as ms

from point3d_mm.analysis.evaluation_speed import mmaction2_reference


def still_actor():
    """Video 'a': one box on all 20 frames at score 0.3; video 'b': one detection at score
    0.9, the last row of the input (too short for a tube: mmaction2 keeps 15 frames or
    more)."""
    gt = dict(labels=['x', 'y'], nframes=dict(a=20, b=5), test_videos=[['a', 'b']])
    rows = [[0, frame, 0, 0.3, 10, 20, 50, 90] for frame in range(1, 21)]
    rows.append([1, 3, 0, 0.9, 10, 20, 50, 90])
    return gt, np.array(rows, dtype=np.float64)


def test_nothing_of_mmaction2_is_replaced():
    before = (ms.Dataset.get_vid_dets, ms.track, ms.link_tubes)
    reference = mmaction2_reference()
    assert (ms.Dataset.get_vid_dets, ms.track, ms.link_tubes) == before
    assert reference.frameAP is ms.frameAP and reference.videoAP is ms.videoAP


def test_linking_reads_each_rows_own_score():
    gt, dets = still_actor()
    tubes = mmaction2_reference().link_tubes(gt, dets)
    assert len(tubes[0]) == 1 and tubes[1] == []
    video, score, tube = tubes[0][0]
    assert video == 'a' and score == pytest.approx(0.3)
    np.testing.assert_array_equal(tube[:, 0], np.arange(1, 21))
    np.testing.assert_allclose(tube[:, 1:5], np.tile([10, 20, 50, 90], (20, 1)))
    np.testing.assert_allclose(tube[:, 5], 0.3, rtol=1e-6)
    # mmaction2 as released gives every detection the last row's score, 0.9.
    (_, upstream_score, _), = ms.link_tubes(gt, dets)[0]
    assert upstream_score == pytest.approx(0.9)
