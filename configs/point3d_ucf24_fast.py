# Point3D on UCF101-24 with the fast 3D Head: point3d_ucf24.py with the 3D backbone's stem
# convolution at spatial stride 2, so that the ResNet3d-50 runs on 32x32 instead of 64x64
# positions of Y. The Hourglass-104, Point Head, TWA and schedule are the paper's.
# Speed (tools/analysis/benchmark.py, paper-speed section, docs/benchmarks.md): the 3D Head
# takes most of a streaming frame at paper scale; this one cuts it about 4.4x (756 against
# 3338 ms per frame at k = 1 on one thread, fp32). Its price in accuracy, at
# the ablation protocol's scale: the 'fast' row of docs/model_zoo.md, "Ablations" (the
# demo-scale counterpart is point3d_demo_synthetic_fast.py).
_base_ = ['./point3d_ucf24.py']

model = dict(cls_head=dict(backbone=dict(conv1_stride_s=2)))
