"""Counts in words: "1 image", "2 images", never "1 images"."""

from __future__ import annotations


def counted(count: int, noun: str, plural: str | None = None) -> str:
    """`count` and `noun`, its plural (`noun` + "s" unless given) for any count but one."""
    return f"{count} {noun if count == 1 else plural or noun + 's'}"
