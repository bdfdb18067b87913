"""Install point3d_mm, shipping configs/, tools/ and model-index.yml as point3d_mm/.mim for
OpenMMLab's mim."""
import os
import os.path as osp
import shutil
import sys

from setuptools import find_packages, setup
from setuptools.command.editable_wheel import editable_wheel

ROOT = osp.dirname(osp.abspath(__file__))
# mim finds configs, tool scripts (`mim run`) and the model index (`mim search`) here.
MIM_PATHS = ('configs', 'tools', 'model-index.yml')


def read_version() -> str:
    namespace: dict = {}
    with open(osp.join(ROOT, 'point3d_mm', 'version.py')) as f:
        exec(f.read(), namespace)
    return namespace['__version__']


def add_mim_extension() -> None:
    """Put configs/, tools/ and model-index.yml under point3d_mm/.mim, where mim looks.

    Links for editable installs (new configs are found without reinstalling), copies for
    wheels and sdists. mim's own helper handles only 'develop', not pip's 'editable_wheel'.
    A source that is missing (a wheel built from an sdist) leaves the existing copy alone.
    """
    if 'develop' in sys.argv or 'editable_wheel' in sys.argv:
        mode = 'symlink'
    elif {'sdist', 'bdist_wheel', 'build', 'build_py', 'install'} & set(sys.argv):
        mode = 'copy'
    else:
        return
    mim_path = osp.join(ROOT, 'point3d_mm', '.mim')
    os.makedirs(mim_path, exist_ok=True)
    for name in MIM_PATHS:
        src, dst = osp.join(ROOT, name), osp.join(mim_path, name)
        if not osp.exists(src):
            continue
        if osp.islink(dst) or osp.isfile(dst):
            os.remove(dst)
        elif osp.isdir(dst):
            shutil.rmtree(dst)
        if mode == 'symlink':
            os.symlink(osp.relpath(src, mim_path), dst)
        elif osp.isfile(src):
            shutil.copyfile(src, dst)
        else:
            shutil.copytree(src, dst, ignore=shutil.ignore_patterns('__pycache__', '*.pyc'))


LINK_MODULE = '''"""Lets mim find the editable point3d_mm (written by point3d_mm's setup.py).

mim looks for a package at <distribution location>/<name>; an editable install's location is
site-packages, where no point3d_mm folder exists. A link there to the source package fixes it.
"""
import os

SOURCE = {source!r}


def _link():
    link = os.path.join(os.path.dirname(os.path.abspath(__file__)), 'point3d_mm')
    if os.path.isdir(SOURCE) and not os.path.lexists(link):
        try:
            os.symlink(SOURCE, link)
        except OSError:
            pass


_link()
'''


class EditableWheelWithMimLink(editable_wheel):
    """Editable wheel that also makes site-packages/point3d_mm point at the source."""

    def _install_namespaces(self, installation_dir, pth_prefix):
        super()._install_namespaces(installation_dir, pth_prefix)
        source = osp.join(ROOT, 'point3d_mm')
        with open(osp.join(installation_dir, '_point3d_mm_mim.py'), 'w') as f:
            f.write(LINK_MODULE.format(source=source))
        with open(osp.join(installation_dir, 'point3d_mm_mim.pth'), 'w') as f:
            f.write('import _point3d_mm_mim\n')


add_mim_extension()
setup(
    name='point3d_mm',
    version=read_version(),
    description='Point3D: spatio-temporal action detection with moving points and 3D CNNs, '
                'as an OpenMMLab plugin',
    long_description=open(osp.join(ROOT, 'README.md'), encoding='utf-8').read(),
    long_description_content_type='text/markdown',
    license='Apache-2.0',
    python_requires='>=3.9',
    packages=find_packages(include=['point3d_mm', 'point3d_mm.*']),
    include_package_data=True,
    package_data={'point3d_mm': ['.mim/model-index.yml', '.mim/configs/**/*.py',
                                 '.mim/configs/**/*.yml', '.mim/tools/**/*.py',
                                 '.mim/tools/**/*.sh', '.mim/tools/**/*.md']},
    install_requires=[
        'torch>=2.6',  # weights_only checkpoint loading by default
        'setuptools<81',  # mim and mmcv import pkg_resources, which setuptools 81 drops
        'numpy>=1.24',
        'mmengine>=0.10.7,<0.11',
        'mmcv>=2.1.0,<2.2.0',  # mmdet 3.3 and mmaction2 1.2 assert mmcv < 2.2
        'mmdet>=3.3.0,<3.4',
        'mmaction2>=1.2.0,<1.3',
        'opencv-python',
        'imageio-ffmpeg',  # ffmpeg with libx264 for H.264 videos (OpenCV wheels lack one)
        'pycocotools',
        'scipy',
    ],
    extras_require={'tests': ['pytest'], 'mim': ['openmim>=0.3.9']},
    cmdclass={'editable_wheel': EditableWheelWithMimLink},
    zip_safe=False,
)
