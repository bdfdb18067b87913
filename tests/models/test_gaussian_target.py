import pytest
import torch
from mmdet.models.utils import gaussian_radius as mmdet_gaussian_radius
from mmdet.models.utils import gen_gaussian_target

from point3d_mm.models.utils import draw_heatmaps, gaussian_radius, group_actor_rows


def test_gaussian_radius_matches_mmdet():
    sizes = torch.tensor([[1.0, 1.0], [3.5, 10.0], [16.0, 4.0], [40.0, 63.0], [0.5, 64.0]])
    for min_overlap in (0.3, 0.7):
        radii = gaussian_radius(sizes, min_overlap)
        expected = [mmdet_gaussian_radius((h, w), min_overlap) for h, w in sizes.tolist()]
        torch.testing.assert_close(radii, torch.tensor(expected), rtol=1e-5, atol=1e-5)


def test_draw_heatmaps_matches_mmdet_loop():
    """Overlapping Gaussians keep the max; centres on the border and radius 0 work."""
    height, width = 20, 24
    centers = torch.tensor([[3, 4], [5, 6], [0, 0], [23, 19], [12, 10], [12, 10]])
    radii = torch.tensor([3, 5, 2, 4, 0, 1])
    map_inds = torch.tensor([0, 0, 1, 1, 2, 2])
    heatmaps = draw_heatmaps(centers, radii, map_inds, 4, (height, width))

    expected = torch.zeros(4, height, width)
    for center, radius, ind in zip(centers.tolist(), radii.tolist(), map_inds.tolist()):
        gen_gaussian_target(expected[ind], center, radius)
    torch.testing.assert_close(heatmaps, expected, rtol=0, atol=1e-6)
    assert heatmaps[3].abs().sum() == 0


def test_draw_heatmaps_empty():
    heatmaps = draw_heatmaps(torch.zeros(0, 2), torch.zeros(0, dtype=torch.long),
                             torch.zeros(0, dtype=torch.long), 2, (5, 6))
    assert heatmaps.shape == (2, 5, 6) and heatmaps.sum() == 0


@pytest.mark.parametrize('rows', [
    ([0, 0, 1, 0, 1], [3, 3, 3, 5, 3]),
    ([2, 1, 2], [0, 0, 0]),
])
def test_group_actor_rows(rows):
    frames, tracks = (torch.tensor(values) for values in rows)
    first_rows, row_actor = group_actor_rows(frames, tracks)
    keys = list(zip(frames.tolist(), tracks.tolist()))
    unique = list(dict.fromkeys(keys))  # first appearance order
    assert first_rows.tolist() == [keys.index(key) for key in unique]
    assert row_actor.tolist() == [unique.index(key) for key in keys]
