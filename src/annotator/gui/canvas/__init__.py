"""The canvas: the view (`view.Canvas`), the composited instance overlay and its tiles, the scene items."""
