"""Reviewing predictions: accept and reject keys, the score filter, progress."""
