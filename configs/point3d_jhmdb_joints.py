# Point3D on JHMDB-21 with its 15 puppet joints as the knots (K = 15) instead of the box's
# edge midpoints: ACTDataset(knots='joints', joints_root=...) reads
# data/jhmdb/joint_positions/<video>/joint_positions.mat (the JHMDB release's joint files) and
# flips them with left and right swapped. Joints lie inside the box, so the knots' extent is
# not fused into the box (fuse_knots=False). Same split setting as point3d_jhmdb.py.
_base_ = ['./point3d_jhmdb.py']

knots = 'joints'
joints_root = 'data/jhmdb/joint_positions'
model = dict(point_head=dict(num_knots=15, test_cfg=dict(fuse_knots=False)))
train_dataloader = dict(dataset=dict(knots=knots, joints_root=joints_root))
val_dataloader = dict(dataset=dict(knots=knots, joints_root=joints_root))
test_dataloader = val_dataloader
