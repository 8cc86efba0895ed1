"""`annotator eval --per-image`: the text a person reads, worst first."""

from __future__ import annotations

from annotator.cli.eval_cmd import _per_image_text


def test_images_with_nothing_to_measure_come_last_not_first():
    """An image without ground truth ("-") was listed first among the worst."""
    text = _per_image_text({1: (0.5, 0.7), 2: (None, None), 3: (0.1, 0.2)}, {1: "a", 2: "b", 3: "c"})
    assert [line.split()[-1] for line in text.splitlines()[1:]] == ["c", "a", "b"]
