"""The docks that list images, instances and classes; each follows the session."""
