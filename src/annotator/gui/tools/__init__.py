"""Editing tools: one module per tool, each gesture its own state object, one edit per gesture."""
