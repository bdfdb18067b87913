# The demo with TWA's cosine logits (docs/paper.md, "TWA"): F̃ L2-normalised per frame and the
# Gram matrix multiplied by a learned temperature τ (τ = 1 at initialisation), the variant
# that stays away from a one-hot M where the √D-scaled logits of the trained demo model do
# not. Trained and tested like configs/point3d_demo_synthetic.py (same data, iterations,
# optimizers and seed); docs/model_zoo.md compares the three TWA scalings.
_base_ = ['../point3d_demo_synthetic.py']

model = dict(neck=dict(scale='l2_temperature', init_temperature=1.0))
