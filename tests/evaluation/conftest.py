"""Fixture of the evaluation tests: mmaction2's reference code (``shared_data`` comes from
tests/conftest.py)."""
import numpy as np
import pytest


def _iou3dt_voc_fixed(b1, b2, spatialonly=False, temporalonly=False):
    """mmaction2 1.2.0's ``iou3dt_voc`` with ``int(array)`` replaced by ``int(array[0])``."""
    from mmaction.evaluation.functional import multisports_utils as ms
    tmin = max(b1[0, 0], b2[0, 0])
    tmax = min(b1[-1, 0], b2[-1, 0])
    if tmax < tmin:
        return 0.0
    temporal_inter = tmax - tmin
    temporal_union = max(b1[-1, 0], b2[-1, 0]) - min(b1[0, 0], b2[0, 0])
    tube1 = b1[int(np.where(b1[:, 0] == tmin)[0][0]):int(np.where(b1[:, 0] == tmax)[0][0]) + 1]
    tube2 = b2[int(np.where(b2[:, 0] == tmin)[0][0]):int(np.where(b2[:, 0] == tmax)[0][0]) + 1]
    if temporalonly:
        return temporal_inter / temporal_union
    return ms.iou3d_voc(tube1, tube2) * (1. if spatialonly else temporal_inter / temporal_union)


@pytest.fixture
def multisports_utils(monkeypatch):
    """mmaction2 1.2.0's ``multisports_utils``, with its numpy >= 2.3 defect patched.

    ``iou3dt_voc`` calls ``int()`` on a 1-element array, which numpy >= 2.3 refuses; the
    patched copy indexes the element first and is otherwise unchanged. (The other known
    defect, ``get_vid_dets`` reading ``frm_det[3]``, is in the linking code, which these
    tests do not call.)
    """
    from mmaction.evaluation.functional import multisports_utils as ms

    import point3d_mm  # noqa: F401  (compat shims before the first mmaction import)
    monkeypatch.setattr(ms, 'iou3dt_voc', _iou3dt_voc_fixed)
    return ms
