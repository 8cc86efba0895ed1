"""Torch and torchvision: model registry, predictor, batch pre-labelling. The only package that imports torch.

Import its modules (`annotator.inference.predictor`, ...) only where torch may be loaded: this package
file itself imports nothing heavy.
"""
