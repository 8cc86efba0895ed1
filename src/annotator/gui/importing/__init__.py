"""Existing labels into the window: File ▸ Import annotations, a folder's LabelMe files, results lists."""
