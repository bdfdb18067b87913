"""Fixture of the evaluation tests: mmaction2's reference code (``shared_data`` comes from
tests/conftest.py)."""
import pytest


@pytest.fixture
def multisports_utils():
    """mmaction2 1.2.0's ``multisports_utils`` as our environment has it: its numpy >= 2.3
    defect (``iou3dt_voc`` calls ``int()`` on a 1-element array) is fixed by
    ``point3d_mm.utils.compat.patch_mmaction_numpy2``. (The other known defect,
    ``get_vid_dets`` reading ``frm_det[3]``, is in the linking code, which these tests do not
    call.)"""
    from mmaction.evaluation.functional import multisports_utils as ms

    import point3d_mm  # noqa: F401  (compat shims before the first mmaction import)
    return ms
