# The demo's cheaper training, priced by configs/point3d_demo_synthetic.py's three seeds
# (docs/model_zoo.md): the same data, model, iterations and optimizers, with the two levers
# that cut a training iteration (through mmengine's Runner on a 2-core AVX-512 host,
# 2 threads: 605 -> 495 ms, 1.22x; docs/benchmark_results/demo_training_speed.json):
# * bf16 autocast in the train step (what `tools/train.py --amp` sets on CPU); the parts that
#   need fp32 (TWA's Gram matrix, the 3D Head's backward, the focal loss) keep it;
# * the Point Head trained on each clip's key frame only (its last frame, the one a test clip
#   scores) instead of all 8.
# Adopted by the demo only if its 3-seed means stay within the demo's spread.
_base_ = ['../point3d_demo_synthetic.py']

model = dict(train_cfg=dict(point_frames='key', autocast_dtype='bfloat16'))
