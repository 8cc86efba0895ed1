"""Pre-labelling in the window: menu and dock, the run controller, the model worker, the settings dialog."""
