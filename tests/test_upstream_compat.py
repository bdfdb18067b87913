"""mmaction2 components that the pinned stack breaks, called as a user would, with the numbers
worked out by hand (the patches: ``point3d_mm.utils.compat.patch_mmaction_numpy2``).

``tools/check_upstream.sh`` runs mmaction2's and mmdet's own suites in this environment.
"""
import sys

import numpy as np
import pytest
import torch
from tool_helpers import load_tool

import point3d_mm  # noqa: F401  (applies the patches)
from point3d_mm.utils.compat import _when_imported

RED, GREEN, BLUE = (255, 0, 0), (0, 255, 0), (0, 0, 255)
YELLOW, CYAN, MAGENTA = (255, 255, 0), (0, 255, 255), (255, 0, 255)


@pytest.mark.parametrize('hue, expected', [
    # int(-0.1196 * 255) = -30: OpenCV hues (degrees / 2) 0, 60, 120 become 150, 30, 90
    (-0.1196, [MAGENTA, YELLOW, CYAN]),
    # +30: 30, 90, 150
    (0.1196, [YELLOW, CYAN, MAGENTA]),
])
def test_color_jitter_rotates_the_hue_of_uint8_clips(hue, expected):
    from mmaction.datasets.transforms import ColorJitter
    frame = np.array([[RED, GREEN, BLUE]], dtype=np.uint8)
    jitter = ColorJitter(brightness=0, contrast=0, saturation=0, hue=(hue, hue))
    imgs = jitter(dict(imgs=[frame, frame.copy()]))['imgs']
    assert len(imgs) == 2
    for img in imgs:
        assert img.dtype == np.uint8
        np.testing.assert_array_equal(img, np.array([expected], dtype=np.uint8))


def _tube(first, last, box):
    """Rows (frame, x1, y1, x2, y2) for frames first..last."""
    return np.array([[frame, *box] for frame in range(first, last + 1)], dtype=np.float64)


# One video of 5 frames, two ground-truth tubes of class 0 on frames 1-4.
MULTISPORTS_GT = dict(
    labels=['run'], test_videos=[['v1']], nframes={'v1': 5}, resolution={'v1': (100, 100)},
    gttubes={'v1': {0: [_tube(1, 4, (0, 0, 10, 10)), _tube(1, 4, (20, 20, 40, 40))]}})


def test_multisports_frame_ap():
    from mmaction.evaluation.functional.multisports_utils import frameAP

    # rows: video index, frame, label, score, x1, y1, x2, y2; 8 ground-truth boxes
    detections = np.array([
        [0, 1, 0, 0.9, 0, 0, 10, 10],    # TP            precision 1,   recall 1/8
        [0, 1, 0, 0.8, 0, 0, 10, 10],    # duplicate: FP precision 1/2, recall 1/8
        [0, 2, 0, 0.7, 20, 20, 40, 30],  # IoU 0.5: TP   precision 2/3, recall 2/8
    ])
    # VOC AP: 1/8 * 1 + 1/8 * 2/3
    assert frameAP(MULTISPORTS_GT, detections, 0.5, print_info=False) == pytest.approx(
        100 * (1 / 8 + 1 / 8 * 2 / 3))


def test_multisports_video_ap():
    # iou3dt_voc called int() on one-element arrays, which numpy >= 2.3 refuses
    from mmaction.evaluation.functional.multisports_utils import videoAP
    tubes = {0: [
        ('v1', 0.9, _tube(1, 4, (50, 50, 60, 60))),  # overlaps nothing: FP
        ('v1', 0.8, _tube(2, 5, (0, 0, 10, 10))),    # first tube: IoU 1 * (4-2)/(5-1): TP
        ('v1', 0.7, _tube(1, 4, (20, 20, 40, 30))),  # second tube, spatial IoU 0.5: TP
    ]}
    # precision/recall 0/0, 1/2 1/2, 2/3 1: AP = 1/2 * 2/3 + 1/2 * 2/3
    assert videoAP(MULTISPORTS_GT, tubes, 0.5, print_info=False) == pytest.approx(100 * 2 / 3)
    assert videoAP(MULTISPORTS_GT, tubes, 0.6, print_info=False) == 0


def test_average_recall_at_average_number_of_proposals():
    # np.trapz, removed in numpy 2.4
    from mmaction.evaluation.functional import average_recall_at_avg_proposals
    ground_truth = {'v': np.array([[0., 10.]])}
    proposals = {'v': np.array([[20., 30., 0.8], [0., 10., 0.9]])}  # IoU 0 and 1
    recall, avg_recall, proposals_per_video, auc = average_recall_at_avg_proposals(
        ground_truth, proposals, total_num_proposals=2)
    # AN runs over 1..100 % of 2 proposals; the best one counts from 50 % (AN = 1) on
    np.testing.assert_allclose(proposals_per_video, np.arange(1, 101) / 50)
    assert recall.shape == (10, 100)
    np.testing.assert_array_equal(recall[:, :49], 0)
    np.testing.assert_array_equal(recall[:, 49:], 1)
    np.testing.assert_array_equal(avg_recall, recall[0])
    # area: 0.02 * 1 / 2 (from AN 0.98 to 1) + 1 (from 1 to 2), over AN 2
    assert auc == pytest.approx(100 * 1.01 / 2)
    assert not hasattr(np, 'trapz')  # patched in mmaction2's module only


def test_retrieval_recall():
    # np.in1d, removed in numpy 2.4
    from mmaction.evaluation.metrics import RetrievalRecall
    scores = torch.tensor([[0.1, 0.7, 0.2], [0.5, 0.3, 0.2]])  # ranks: 1 2 0, 0 1 2
    recalls = RetrievalRecall.calculate(scores, [[1], [2]], topk=(1, 2, 3),
                                        target_indices=True)
    assert [float(r) for r in recalls] == [50., 50., 100.]
    assert not hasattr(np, 'in1d')


def test_a_patch_waits_for_the_first_import(tmp_path, monkeypatch):
    (tmp_path / 'upstream_toy.py').write_text('VALUE = 1\n')
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, 'upstream_toy', raising=False)
    _when_imported('upstream_toy', lambda module: setattr(module, 'VALUE', 2))
    import upstream_toy
    assert upstream_toy.VALUE == 2
    monkeypatch.delitem(sys.modules, 'upstream_toy')
    import upstream_toy as again  # a patch applies to the first import only
    assert again.VALUE == 1


@pytest.mark.parametrize('text, kind', [
    ("AttributeError: module 'numpy' has no attribute 'trapz'", 1),
    ('OverflowError: Python integer -13 out of bounds for uint8', 1),
    ("E   ModuleNotFoundError: No module named 'torchvision'", 2),
    ('ImportError: Please run "pip install av" to install PyAV first.', 2),
    ('urllib.error.URLError: <urlopen error [Errno -2] Name or service not known>', 2),
    ('E           Exception: Cannot find config path', 3),
])
def test_check_upstream_sorts_failures_by_their_message(text, kind):
    check = load_tool('upstream/check_upstream.py')
    failure = dict(nodeid='tests/test_x.py::test_x', crash='', text=text)
    assert check.classify('no checkout needed', failure, timeout=1)[0] == kind
