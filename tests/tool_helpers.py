"""Shared test helpers: loading a script of ``tools/`` as a module (the scripts are not a
package), so tests call its functions in-process instead of paying for a new interpreter; reading
back the videos the tools write."""
import importlib.util
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
