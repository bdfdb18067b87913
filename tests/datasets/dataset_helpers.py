"""Helpers of the dataset tests: public-format pickles and tiny datasets."""
import os
import os.path as osp
import pickle

import cv2
import numpy as np

# A tiny synthetic dataset, shared by the tests of this folder: small frames, short videos.
TINY = dict(seed=3, num_train=6, num_test=3, size=64, min_frames=20, max_frames=28,
            ava_fps=4, ava_clip_len=4, ava_frame_interval=2)


class Py2Pickler(pickle._Pickler):
    """Writes what Python 2's ``cPickle.dump(obj, f)`` (protocol 0) wrote.

    Strings and bytes become ``S'...'`` opcodes (Python 2 ``str``), numpy globals are named
    ``numpy.core.multiarray`` and builtins ``__builtin__``: the form of the public
    JHMDB-GT.pkl / UCF101v2-GT.pkl files, which Python 3 can only read with
    ``encoding='latin1'``.
    """

    dispatch = pickle._Pickler.dispatch.copy()

    def __init__(self, file) -> None:
        super().__init__(file, protocol=0, fix_imports=True)

    def save_py2_str(self, obj) -> None:
        data = obj.encode('latin1') if isinstance(obj, str) else obj
        self.write(b'S' + repr(data)[1:].encode('ascii') + b'\n')
        self.memoize(obj)

    dispatch[str] = save_py2_str
    dispatch[bytes] = save_py2_str

    def save_global(self, obj, name=None) -> None:
        module = getattr(obj, '__module__', '')
        if module.startswith('numpy._core'):
            name = name or obj.__qualname__
            self.write(b'c' + module.replace('numpy._core', 'numpy.core').encode() + b'\n' +
                       name.encode() + b'\n')
            self.memoize(obj)
            return
        super().save_global(obj, name)


def write_py2_pickle(obj, path: str) -> None:
    with open(path, 'wb') as f:
        Py2Pickler(f).dump(obj)


def small_act(nframes: int = 10, num_videos: int = 3) -> dict:
    """A small ACT dict in the public files' exact types (np.int64 label keys, float32).

    Video ``i`` has label ``i % 2`` and one tube over all frames; the last video is the test
    split, the others the train split.
    """
    videos = [f'cls/video_{i}' for i in range(num_videos)]
    tubes = {}
    for i, video in enumerate(videos):
        frames = np.arange(1, nframes + 1, dtype=np.float32)[:, None]
        boxes = np.array([[10 + i, 12, 40, 50]], np.float32) + frames * [1, 0, 1, 0]
        tubes[video] = {np.int64(i % 2): [np.hstack([frames, boxes]).astype(np.float32)]}
    return dict(labels=['walk', 'jump'], gttubes=tubes,
                nframes={v: nframes for v in videos},
                train_videos=[videos[:-1]], test_videos=[videos[-1:]],
                resolution={v: (64, 80) for v in videos})


def frames_for(act: dict, root: str, tmpl: str = '{:05d}.jpg') -> None:
    """Write textured frames for every video of an ACT dict."""
    for video, n in act['nframes'].items():
        h, w = act['resolution'][video]
        folder = osp.join(root, video)
        os.makedirs(folder, exist_ok=True)
        for f in range(1, n + 1):
            # texture, so that a truncated file still has whole headers and some scan data
            img = np.random.default_rng(f).integers(0, 256, (h, w, 3), dtype=np.uint8)
            cv2.imwrite(osp.join(folder, tmpl.format(f)), img)
