"""Comparison with ground truth: controller (worker), dock, canvas colours, precision-recall plot."""
