"""annotator: build and check instance-segmentation datasets."""

__version__ = "0.1.0"
