"""The document model, geometry, reversible edits, matching and evaluation.

Pure Python with numpy, OpenCV and pycocotools: never Qt, never torch (a test enforces it).
"""
