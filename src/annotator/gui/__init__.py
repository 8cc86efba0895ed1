"""The Qt side: main window, docks and the canvas. Mirrors the core document; never imports torch."""
