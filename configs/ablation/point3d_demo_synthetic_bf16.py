# The demo trained under bf16 autocast (what `tools/train.py --amp` sets on CPU), everything
# else as configs/point3d_demo_synthetic.py: the lever of the two in
# point3d_demo_synthetic_bf16_keyframes.py that changes no supervision. The parts that need
# fp32 (TWA's Gram matrix, the 3D Head's backward, the focal loss) keep it. A training
# iteration through mmengine's Runner: 605 -> 508 ms (1.19x) on a 2-core AVX-512 host with
# native bf16, 2 threads (docs/benchmark_results/demo_training_speed.json).
# Adopted by the demo only if its 3-seed means stay within the demo's spread.
_base_ = ['../point3d_demo_synthetic.py']

model = dict(train_cfg=dict(autocast_dtype='bfloat16'))
