"""Data structures and geometry shared by the dataset code, the model and the evaluation.

Pure numpy (the geometry functions also take torch tensors): nothing here imports a model,
a dataset or mmengine.
"""
