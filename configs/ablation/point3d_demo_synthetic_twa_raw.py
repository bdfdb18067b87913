# The demo with TWA exactly as the paper writes it: M = softmax of the raw Gram matrix of the
# flattened per-frame features, no scaling (docs/paper.md, "TWA"). Trained and tested like
# configs/point3d_demo_synthetic.py (same data, iterations, optimizers and seed);
# docs/model_zoo.md compares the three TWA scalings.
_base_ = ['../point3d_demo_synthetic.py']

model = dict(neck=dict(scale=None))
