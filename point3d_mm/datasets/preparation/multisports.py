"""Converting MultiSports ground truth (and mmaction2's copy of it) to the ACT format.

Its ``multisports_GT.pkl`` is ACT-like; a test-only file lacks ``train_videos``.
:func:`multisports_to_act` normalises it, fills the missing split list and checks every video.
"""
from typing import Dict, Mapping

from ...structures.act_format import normalise_act
from .csv_annotations import check_act


def multisports_to_act(gt: Mapping, source: str = 'MultiSports annotation') -> Dict:
    """Convert a MultiSports / mmaction2 ground-truth pickle's dict to an ACT dict.

    Args:
        gt: The unpickled dict (``labels``, ``gttubes``, ``nframes``, ``resolution`` and at
            least one of ``train_videos`` / ``test_videos``).
        source: Name used in error messages (the file).

    Returns:
        A normalised ACT dict; a missing split list becomes empty splits, as many as the
        other list has.

    Raises:
        ValueError: a key is missing, or a video has no ``nframes``/``resolution`` entry,
            an unknown label or tube frames outside 1..nframes (all listed, by video).
    """
    missing = [k for k in ('labels', 'gttubes', 'nframes', 'resolution') if k not in gt]
    if 'train_videos' not in gt and 'test_videos' not in gt:
        missing.append('train_videos/test_videos')
    if missing:
        raise ValueError(f'{source}: not a MultiSports/ACT ground truth, lacks '
                         f'{", ".join(missing)}')
    try:
        act = normalise_act(gt)
    except (TypeError, ValueError, AttributeError, OverflowError) as error:
        raise ValueError(f'{source}: malformed MultiSports/ACT ground truth: {error}') from None
    num_splits = max(len(act.get('train_videos', [])), len(act.get('test_videos', [])))
    for key in ('train_videos', 'test_videos'):
        act.setdefault(key, [[] for _ in range(num_splits)])
    return check_act(act, source)
