"""How far review has got, per image and for the dataset, kept up to date from change events.

`review.progress` walks every instance; a reviewer judging one prediction at a time on a large dataset
should not pay for that on each key press, so the tally only looks at what a change names.
"""

from __future__ import annotations

from annotator.core.model import Change, ChangeKind, Dataset, Instance, Review
from annotator.core.review import ReviewProgress


class ReviewTally:
    """Judged and total predictions per image and overall; call `close` to stop following."""

    def __init__(self, dataset: Dataset) -> None:
        self.dataset = dataset
        self._state: dict[int, tuple[int, bool]] = {}  # prediction id -> (image id, judged)
        self._per_image: dict[int, list[int]] = {}  # image id -> [judged, total]
        self._judged = 0
        self._put(dataset.instances.values())
        dataset.subscribe(self._on_change)

    def close(self) -> None:
        self.dataset.unsubscribe(self._on_change)

    def image(self, image_id: int) -> ReviewProgress:
        judged, total = self._per_image.get(image_id, (0, 0))
        return ReviewProgress(judged, total)

    def overall(self) -> ReviewProgress:
        return ReviewProgress(self._judged, len(self._state))

    def _on_change(self, change: Change) -> None:
        if change.kind in (ChangeKind.INSTANCES_ADDED, ChangeKind.INSTANCES_CHANGED):
            self._drop(i.id for i in change.items)
            self._put(change.items)
        elif change.kind is ChangeKind.INSTANCES_REMOVED:
            self._drop(i.id for i in change.items)

    def _put(self, instances) -> None:
        for inst in instances:
            if inst.source.is_model:
                self._count(inst.id, inst.image_id, _judged(inst), +1)

    def _drop(self, ids) -> None:
        for instance_id in list(ids):
            state = self._state.get(instance_id)
            if state is not None:
                self._count(instance_id, state[0], state[1], -1)

    def _count(self, instance_id: int, image_id: int, judged: bool, sign: int) -> None:
        counts = self._per_image.setdefault(image_id, [0, 0])
        counts[0] += sign * judged
        counts[1] += sign
        self._judged += sign * judged
        if sign > 0:
            self._state[instance_id] = (image_id, judged)
        else:
            del self._state[instance_id]


def _judged(instance: Instance) -> bool:
    return instance.review is not Review.UNREVIEWED
