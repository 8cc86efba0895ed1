"""What an imported value must be before the tool keeps it: ids that fit SQLite's 64-bit integers, text that
is valid Unicode, extra keys that can be stored and written back (bounded nesting, no lone surrogates).

JSON allows all of these (Python's own parser even accepts lone `\\ud800` escapes), and `info` used to
accept them while the window failed to store them; each importer now checks them the same way.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from annotator.io.problems import Problems

INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1
MAX_NESTING = 64  # deeper extra values are dropped (orjson stops at 255, Python's json near 1000)
REPLACEMENT = "\ufffd"


def fits_int64(value: int) -> bool:
    return INT64_MIN <= value <= INT64_MAX


def is_valid_text(text: str) -> bool:
    """False for strings holding lone surrogates (from `\\ud800` escapes or undecodable file names)."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def clean_text(text: str) -> str:
    """`text` with every lone surrogate replaced by U+FFFD."""
    return text if is_valid_text(text) else _replace_surrogates(text)


def clean_name(value: str, *, item: str | None, what: str, problems: Problems) -> str:
    """A name to keep: lone surrogates become U+FFFD, and that is reported."""
    if is_valid_text(value):
        return value
    problems.add(item, f"{what} {value!r} is not valid Unicode (a lone surrogate); replaced by U+FFFD")
    return _replace_surrogates(value)


def clean_extra(extra: Mapping[str, Any], *, item: str | None, problems: Problems) -> dict[str, Any]:
    """The extra keys that can be stored and exported; each dropped one is reported with its reason."""
    kept: dict[str, Any] = {}
    for key, value in extra.items():
        reason = storable_problem(key, value)
        if reason is None:
            kept[key] = value
        else:
            problems.add(item, f"extra key {_short(key)} {reason}; dropped")
    return kept


def storable_problem(key: str, value: Any) -> str | None:
    """Why `value` (under `key`) cannot be stored, or None. Iterative: a 100,000-deep list is fine here."""
    if not is_valid_text(key):
        return "has a name that is not valid Unicode"
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        current, depth = stack.pop()
        if isinstance(current, dict):
            if depth > MAX_NESTING:
                return f"is nested more than {MAX_NESTING} levels deep"
            for k, v in current.items():
                if not isinstance(k, str) or not is_valid_text(k):
                    return "holds a key that is not valid Unicode"
                stack.append((v, depth + 1))
        elif isinstance(current, list):
            if depth > MAX_NESTING:
                return f"is nested more than {MAX_NESTING} levels deep"
            stack.extend((v, depth + 1) for v in current)
        elif isinstance(current, str) and not is_valid_text(current):
            return "holds text that is not valid Unicode (a lone surrogate)"
        elif isinstance(current, float) and not math.isfinite(current):
            return "holds NaN or an infinite number, which JSON cannot write"
    return None


def _replace_surrogates(text: str) -> str:
    return "".join(REPLACEMENT if 0xD800 <= ord(ch) <= 0xDFFF else ch for ch in text)


def _short(key: str) -> str:
    shown = _replace_surrogates(key)
    return repr(shown if len(shown) <= 40 else shown[:40] + "…")
