# Paper Table 3 (JHMDB split 1): CP + KP + 3D Head (no TWA: Y = F).
_base_ = ['../point3d_jhmdb.py']

model = dict(neck=None)
