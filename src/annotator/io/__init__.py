"""Files: COCO, LabelMe, YOLO, panoptic; images; the SQLite project store. Never Qt, never torch."""
