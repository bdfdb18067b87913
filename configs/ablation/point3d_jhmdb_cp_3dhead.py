# Paper Table 3 (JHMDB split 1): CP + 3D Head (no KP detector, no TWA).
_base_ = ['../point3d_jhmdb.py']

model = dict(point_head=dict(with_kp=False), neck=None)
