"""Shared test helpers: loading a script of ``tools/`` as a module (the scripts are not a
package), so tests call its functions in-process instead of paying for a new interpreter; reading
back the videos the tools write; fingerprints of the folders they write."""
import hashlib
import importlib.util
import os
import os.path as osp
from types import ModuleType

REPO_ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))


def load_tool(relative_path: str) -> ModuleType:
    """``tools/<relative_path>`` (e.g. ``'analysis/eval_detections.py'``) as a module."""
    path = osp.join(REPO_ROOT, 'tools', relative_path)
    name = 'tool_' + relative_path.replace('/', '_').rsplit('.', 1)[0]
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def read_video(path: str) -> list:
    """Every frame of a video file the tools wrote, decoded by OpenCV (an independent check
    of the output, not the project's own reader)."""
    import cv2
    capture = cv2.VideoCapture(path)
    frames = []
    while True:
        ok, frame = capture.read()
        if not ok:
            break
        frames.append(frame)
    capture.release()
    return frames


def tree_hashes(root: str) -> dict:
    """{path relative to ``root``: SHA-256 of its bytes} for every file below ``root``."""
    hashes = {}
    for folder, _, files in os.walk(root):
        for name in files:
            path = osp.join(folder, name)
            with open(path, 'rb') as f:
                hashes[osp.relpath(path, root)] = hashlib.sha256(f.read()).hexdigest()
    return hashes
