"""The canvas's instances, drawn as one overlay: lightweight layers, the current tile, the patch over the
selected instance, the selected instance's vector item and the labels.

A frame draws the image and the tile (two `drawImage` calls in the view's background), then the
selected instance, the patch and the labels as items. A tile is rebuilt whole when the zoom settles, the
view leaves it, or a style or class visibility changes (in a worker thread when the work is large,
dropping stale results), and in part, on the GUI thread, inside the box of an instance that changed.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from functools import partial
from typing import TYPE_CHECKING, Protocol

import numpy as np
from PySide6.QtCore import QObject, QPointF, QRectF, QTimer
from PySide6.QtGui import QColor

from annotator.core.colors import category_rgb
from annotator.core.model import Image, Instance
from annotator.core.region import Region
from annotator.core.session import Session
from annotator.gui.canvas.compose import (
    Dash,
    Layer,
    Rect,
    TileSpec,
    build_tile,
    intersect,
    layer_area,
    layers_meeting,
    make_layer,
    outline_pad,
    rect_minus,
    render_base_exact,
    render_patch,
    same_picture,
    work_estimate,
)
from annotator.gui.canvas.crop_queue import CropQueue
from annotator.gui.canvas.items import (
    SELECTED_Z,
    InstanceItem,
    Label,
    LabelLayer,
    instance_color,
    is_staircase,
)
from annotator.gui.canvas.outline import Outline
from annotator.gui.canvas.prefetch import Ahead, Made, MaskPrefetcher, TileAhead
from annotator.gui.canvas.strips import KEEP, StripComposer, Todo, grown_patch, moved_edges, reused_area
from annotator.gui.canvas.tiles import KEEP_PATCH, FirstPart, PatchItem, Tile, TileBuilder

if TYPE_CHECKING:
    from PySide6.QtGui import QPainter
    from PySide6.QtWidgets import QGraphicsScene

SYNC_WORK_PX = 1_500_000  # tiles with less layer area than this are built at once, on the GUI thread
BOUND_AREA_RATIO = 4.0  # see `_fewer_rects`
SYNC_STRIP_PX = 400_000  # layer area in a moved box's strips composited at once; more in the worker
# and as many layers meeting them: each costs its fill, outline and dashes whatever its area (a vertex
# drag's release at fit met 10-18 layers in strips of 27,000 device pixels, 8-12 ms on the GUI thread)
SYNC_STRIP_LAYERS = 6
MANY_BOXES = 12  # more changed boxes than this in one event: rebuild the tile instead
AHEAD_QUIET_MS = 250  # work made ahead (tiles) waits until the person has done nothing for this long
ZOOM_AHEAD_PX = 2_500_000  # the largest whole-image tile made ahead for the next wheel notch (10 MB)
KEPT_PX = 4_000_000  # the largest tile kept when a zoom step replaces it, for the step back (16 MB)
VIEW_MARGIN = 0.25  # a tile reaches this share of the view beyond each side, so a short pan needs none
FIRST_PART_SHARE = 0.7  # the view's part of a tile is built first when it is less than this share
Box = tuple[float, float, float, float]  # x0, y0, x1, y1, image coordinates


@dataclass
class Levers:
    """Ways the overlay gets the exact picture sooner (docs/decisions/0020-exact-picture-sooner.md). All
    on in the app; the benches turn them off to time today's path beside the new one in the same run."""

    reuse_build: bool = True  # a view the build in flight covers starts no other build
    parallel: bool = True  # a tile built in the worker is composited in two bands side by side
    selected_box: bool = True  # a change of the selected instance's shape redraws what its box left
    visible_first: bool = True  # a tile built in the worker shows the view's part before the margin
    prefetch: bool = True  # the next image's mask crops are decoded while the canvas is idle
    paint_first: bool = True  # a worker build, an edit's strips, start after the frame asked for
    strips_in_worker: bool = True  # a large edit's strips are composited in the worker
    prebuild: bool = True  # the next image's tile at fit is composited while idle (with `prefetch`)
    zoom_ahead: bool = True  # the tile one wheel notch in is composited while idle (small enough)
    zoom_out_ahead: bool = True  # and, zoomed in, the one a notch out (with `zoom_ahead`)
    zoom_ahead_selected: bool = True  # those notches' tiles also with an instance selected (and its patch)
    fit_ahead: bool = True  # and, zoomed in, the tile at fit (F), once the notches' are made
    step_back: bool = True  # the tile at fit of the image just left is kept for a step back to it
    zoom_back: bool = True  # the tile a zoom step replaced is kept for the step back to its zoom

    @property
    def bands(self) -> int:
        return 2 if self.parallel else 1


class OverlayHost(Protocol):
    """What the overlay needs of the view that shows it (the canvas)."""

    outline_margin: float

    @property
    def scale_factor(self) -> float: ...

    def scene(self) -> QGraphicsScene: ...

    def fit_scale(self, width: int, height: int) -> float | None: ...

    def notch_scale(self, *, out: bool = False) -> float: ...

    def visible_scene_rect(self) -> QRectF: ...

    def invalidate_background(self, rect: QRectF | None = None) -> None: ...

    def render_failed(self, error: Exception) -> None: ...


class InstanceOverlay(QObject):
    """The shown image's instances as layers, composited into tiles for `view`; what is shown, selected,
    recoloured and how it looks come from `session`."""

    def __init__(self, view: OverlayHost, session: Session, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.view = view
        self.session = session
        self.layers: dict[int, Layer] = {}
        self.order: list[Layer] = []  # back to front
        self.tile: Tile | None = None
        self.selected_item: InstanceItem | None = None
        self.patch = PatchItem()
        self.labels = LabelLayer()
        view.scene().addItem(self.patch)
        view.scene().addItem(self.labels)
        self.builder = TileBuilder(self)
        self.builder.built.connect(self._on_built)
        self._image_size = (0, 0)
        self._generation = 0
        self._pending: int | None = None  # generation of the build in flight
        self._pending_spec: TileSpec | None = None  # what that build will show
        self._dirty: list[Box] = []  # boxes changed since the build in flight took its layers
        self._label_cache: dict[int, tuple[Layer, Label]] = {}  # kept while the layer is
        self.levers = Levers()
        # Work made ahead runs only while the canvas and the person are idle: a drag or stroke that
        # shared the cores with it (and the GIL, in numpy) took a third longer per step.
        self._quiet = QTimer(self, singleShot=True, interval=AHEAD_QUIET_MS)
        self._quiet.timeout.connect(self._start_zoom_ahead)
        # this image's next zoom in first, then out, then its large polygons' pixels, then the next image
        self.zoom_ahead = TileAhead(self._idle, self)
        self.zoom_out_ahead = TileAhead(lambda: self._idle() and not self.zoom_ahead.pending, self)
        self.fit_ahead = TileAhead(
            lambda: self._idle() and not self.zoom_ahead.pending and not self.zoom_out_ahead.pending, self
        )
        self.shown_crops = CropQueue(lambda: self._idle() and not self._zooms_ahead_pending(), parent=self)
        self.prefetcher = MaskPrefetcher(
            lambda: self._idle() and not self._zooms_ahead_pending() and not self.shown_crops.pending, self
        )
        self.zoom_ahead.finished.connect(self._resume_ahead)
        self.zoom_out_ahead.finished.connect(self._resume_ahead)
        self.fit_ahead.finished.connect(self._resume_ahead)
        self.shown_crops.finished.connect(self.prefetcher.resume)
        self._ahead: tuple[TileSpec, np.ndarray] | None = None  # the tile made ahead for this image
        self._replaced: tuple[TileSpec, np.ndarray] | None = None  # the tile a zoom step replaced
        self._image_id: int | None = None
        self._left: tuple[int, Ahead] | None = None  # the image left last: its regions and tile at fit
        self.strips = StripComposer(
            lambda: (self.tile, self.patch.tile), self._strips_landed, view.render_failed, self
        )

    # -- layers -----------------------------------------------------------------------------------
    def clear(self) -> None:
        self._generation += 1
        self._pending = None
        self._ahead = self._replaced = None
        self.zoom_ahead.forget()
        self.zoom_out_ahead.forget()
        self.fit_ahead.forget()
        self.shown_crops.forget()
        self.strips.cancel()
        self.layers.clear()
        self.order = []
        self.tile = None
        self.patch.set_tile(None)
        self._set_selected_item(None)
        self.labels.set_labels([], QRectF(), self.view.scale_factor)

    def set_image(self, image: Image, instances: list[Instance]) -> None:
        """Layers only (boxes, colours): no mask is decoded here, so switching images is quick."""
        switching = image.id != self._image_id
        left = self._leaving() if switching else None
        self.clear()
        self._image_size, self._image_id = (image.width, image.height), image.id
        ahead = self.prefetcher.take(image.id)
        if ahead.tile is None and self._left is not None and self._left[0] == image.id:
            ahead = self._left[1]  # a step back to the image left last
        if switching:
            self._left = left
        for instance in instances:
            self.layers[instance.id] = self._make(instance, ahead.regions.get(instance.id))
        self._sort()
        # its large polygons, front first, from the next resume (after this image's own tile)
        self.shown_crops.start(
            [layer.region for layer in reversed(self.order) if layer.region.tested_by_rings]
        )
        self._ahead = ahead.tile  # used by the first `refresh` if the view wants that very picture
        self.refresh_labels()

    def _idle(self) -> bool:
        return self._pending is None and not self.strips.pending and not self._quiet.isActive()

    def _zooms_ahead_pending(self) -> bool:
        return self.zoom_ahead.pending or self.zoom_out_ahead.pending or self.fit_ahead.pending

    def hold_ahead(self) -> None:
        """The person is doing something (a press, a drag, the wheel, an edit): work made ahead waits
        until they have stopped for AHEAD_QUIET_MS, then goes on."""
        self._quiet.start()

    @property
    def working_ahead(self) -> bool:
        """Whether tiles are still to be made ahead (the next wheel notch, the next image)."""
        return (
            self._quiet.isActive()
            or self._zooms_ahead_pending()
            or self.shown_crops.pending
            or self.prefetcher.pending
        )

    def forget_ahead(self) -> None:
        """Another document: what was made ahead for this one's images (the next, the one left) goes."""
        self.prefetcher.forget()
        self._left = self._image_id = None

    def _leaving(self) -> tuple[int, Ahead] | None:
        """The shown image's tile, kept for a step back to it (A after D), when it is the exact whole image
        at fit with nothing selected; its regions' crops are let go (the tile is what is kept)."""
        shown = self._exact_picture() if self.levers.step_back and self._image_id is not None else None
        if shown is None:
            return None
        width, height = self._image_size
        scale = self.view.fit_scale(width, height)
        if scale is None or shown[0].scale != scale or shown[0].area != _whole_image(width, height, scale):
            return None
        regions = {instance_id: layer.region for instance_id, layer in self.layers.items()}
        for region in regions.values():
            region.forget_pixels()
        return self._image_id, Ahead(regions, shown)

    def _exact_picture(self) -> tuple[TileSpec, np.ndarray] | None:
        """The tile shown and the spec it draws exactly (no build or strips in flight), when nothing is
        selected: what a tile kept for later (a step back, a zoom back) must be. A selected instance's
        item still up means the tile leaves it out, even when the session's selection was cleared
        already (a switch clears it before the canvas hears of the new image)."""
        tile = self.tile
        if tile is None or self.building or self.selected_item is not None:
            return None
        spec = self.spec(tile.area, tile.scale)
        return None if spec.selected is not None else (spec, tile.pixels)

    def prefetch(self, image: Image, instances: list[Instance]) -> None:
        """Decode the masks of the image likely shown next, and composite its tile at fit, while idle
        (see `gui.canvas.prefetch`)."""
        if self._left is not None and self._left[0] == image.id:
            return  # the image just left: its tile is kept already
        if self.levers.prefetch:
            self.prefetcher.start(image, instances, self._plan_ahead if self.levers.prebuild else None)

    def _plan_ahead(
        self, image: Image, instances: list[Instance], regions: dict[int, Region]
    ) -> tuple[TileSpec, dict[int, Region]] | None:
        """The tile the view will want right after switching to `image`: the whole image at fit, nothing
        selected (`Canvas._show_image`), with the layers `set_image` will make from these regions."""
        dataset = self.session.dataset
        scale = self.view.fit_scale(image.width, image.height)
        if dataset is None or dataset.images.get(image.id) is not image or scale is None:
            return None  # another document, or the image changed
        size = (image.width, image.height)
        layers = [self._make(instance, regions.get(instance.id), image_size=size) for instance in instances]
        shown = sorted((layer for layer in layers if self.shown(layer)), key=lambda layer: layer.key)
        area = _whole_image(image.width, image.height, scale)
        spec = TileSpec(area, scale, tuple(shown), None, self.session.style.outline_width)
        return spec, {layer.instance_id: layer.region for layer in layers}

    def _make(
        self, instance: Instance, region: Region | None = None, *, image_size: tuple[int, int] | None = None
    ) -> Layer:
        """The layer of `instance` on the shown image (or another image of `image_size`), keeping the
        region its previous layer had made."""
        session = self.session
        override = session.overrides.get(instance.id)
        if override is None:
            rgb = category_rgb(session.dataset.categories.get(instance.category_id), instance.category_id)
        else:
            rgb = override.color
        return make_layer(
            instance,
            rgb,
            image_size or self._image_size,
            opacity=session.style.opacity,
            previous=self.layers.get(instance.id),
            region=region,
        )

    def shown(self, layer: Layer) -> bool:
        return self.session.shows(layer.instance_id, layer.category_id, layer.pending_score)

    def _sort(self) -> None:
        self.order = sorted(self.layers.values(), key=lambda layer: layer.key)

    def put(self, instances: list[Instance]) -> None:
        """Instances added or changed: new layers, redrawn in the old and the new box."""
        self._replaced = None
        boxes, moved = [], None
        selected = self.session.selected_id
        for instance in instances:
            old = self.layers.get(instance.id)
            new = self.layers[instance.id] = self._make(instance)
            if old is None:
                boxes.append(new.box)
            elif instance.id == selected and self._only_its_shape(old, new):
                moved = (old.box, new.box)
            else:
                boxes += [old.box, new.box]
        self._sort()
        if moved is not None:
            self.sync_selected_item()
            if not self.levers.selected_box or not self._move_selected(*moved):
                boxes += moved
        elif any(instance.id == selected for instance in instances):
            self.sync_selected_item()
        if boxes or moved is None:
            self.redraw(boxes)
        self.refresh_labels()

    def _only_its_shape(self, old: Layer, new: Layer) -> bool:
        """Whether the selected instance changed only its shape (and stays shown, at its place in z)."""
        return old.key == new.key and self.shown(old) and self.shown(new)

    def _move_selected(self, old: Box, new: Box) -> bool:
        """The selected instance's shape changed. The tile never holds it (its item draws it): only
        where its box moved does the tile change (instances above it are drawn in the patch inside its
        box, outside it in the tile), and the patch only in what the box gained. A brush stroke on a
        large instance zoomed in recomposited both boxes and the patch whole: 500 ms on the GUI
        thread at 2x; large strips are composited in the worker (`gui.canvas.strips`). False if it
        cannot (no tile, or one being built). See docs/decisions/0020."""
        tile = self.tile
        if tile is None or self._pending is not None:
            return False
        spec = self.spec(tile.area, tile.scale)
        pad = outline_pad(spec.line_width)
        before = self._device_rect(old, tile.scale, pad)
        after = self._device_rect(new, tile.scale, pad)
        if before == after:
            return True
        changed = rect_minus(before, after) + rect_minus(after, before) + moved_edges(before, after)
        moved = [intersect(rect, tile.area) for rect in changed]
        strips = [rect for rect in moved if rect is not None]
        todo = self.strips.todo
        old_area = intersect(before, tile.area)
        later = self.levers.strips_in_worker and (todo is not None or _too_much_now(spec, [*strips, after]))
        if not later:
            for rect in _fewer_rects(spec, strips):
                render_base_exact(tile.pixels, spec.local(rect), spec)
                self.view.invalidate_background(_scene_rect(rect, tile.scale))
            patch = grown_patch(spec, self.patch.tile, old_area)
            alike = None if patch is None else reused_area(self.patch.tile, patch[0], spec.scale)
            self._set_patch(spec, patch, alike)
            return True
        # Until the worker's strips land the tile shows its previous pixels there, and the old patch
        # stays: right where the box shrank, instances above it missing where it grew (for a moment).
        carried = todo is not None and todo.tile is tile
        rects = todo.tile_rects + strips if carried else strips
        reuse = not carried or todo.reuse  # a redraw still to come changed what lies above, maybe
        self.strips.bands = self.levers.bands
        before = old_area if reuse else None
        self.strips.submit(
            spec,
            Todo(tile, rects, True, self.patch.tile, before, reuse=reuse),
            after_frame=self.levers.paint_first,
        )
        return True

    @staticmethod
    def _device_rect(box: Box, scale: float, pad: int) -> Rect:
        x0, y0, x1, y1 = box
        return (
            math.floor(x0 * scale) - pad,
            math.floor(y0 * scale) - pad,
            math.ceil(x1 * scale) + pad,
            math.ceil(y1 * scale) + pad,
        )

    def _set_patch(
        self, spec: TileSpec, patch: tuple[Rect, np.ndarray] | None, alike: Rect | None = None
    ) -> None:
        """`alike`: where the new patch holds the shown one's pixels (only the rest is repainted)."""
        self.patch.set_tile(None if patch is None else Tile.of(patch[0], spec.scale, patch[1]), alike=alike)

    def remove(self, instance_ids: list[int]) -> None:
        boxes = [self.layers.pop(i).box for i in instance_ids if i in self.layers]
        self._sort()
        self.redraw(boxes)
        self.refresh_labels()

    def restyle(self) -> None:
        self._replaced = None
        for layer in self.order:
            self.layers[layer.instance_id] = self._make(self.session.dataset.instances[layer.instance_id])
        self._sort()
        self.sync_selected_item()
        self.refresh()
        self.refresh_labels()

    def visible(self) -> list[Layer]:
        return [layer for layer in self.order if self.shown(layer)]

    def instance_at(self, x: float, y: float) -> int | None:
        """The front-most visible instance whose exported pixels include (x, y)."""
        for layer in reversed(self.order):
            if layer.covers(x, y) and self.shown(layer):
                return layer.instance_id
        return None

    def staircase(self, instance_id: int | None) -> bool:
        """Whether the instance's outline is a long run of pixel-edge steps (a large mask's traced
        boundary), which is drawn without antialiasing (see `items.STAIRCASE_VERTICES`)."""
        layer = self.layers.get(instance_id)
        return layer is not None and is_staircase(layer.geometry, layer.rings)

    def outline_of(self, instance_id: int | None) -> Outline | None:
        layer = self.layers.get(instance_id)
        if layer is None:
            return None
        if layer.gui_outline is None:
            layer.gui_outline = Outline(layer.region)
        return layer.gui_outline

    # -- the selected instance --------------------------------------------------------------------
    def sync_selected_item(self) -> None:
        """The vector item of the selected instance, made again for its current value and style."""
        selected = self.session.selected_id
        layer = self.layers.get(selected)
        if layer is None:
            self._set_selected_item(None)
            return
        dataset = self.session.dataset
        instance = dataset.instances[selected]
        category = dataset.categories.get(instance.category_id)
        style = self.session.style
        item = self.selected_item
        if item is None or item.instance.id != selected:
            # not cached: it changes while a tool drags it, so it is drawn afresh each frame
            item = InstanceItem(
                instance, category, self._image_size, style, cached=False, region=layer.region
            )
            item.setZValue(SELECTED_Z)
            self._set_selected_item(item)
        else:
            item.set_style(style)
            item.set_instance(instance, category, layer.region)
        override = self.session.overrides.get(selected)
        item.set_override_color(None if override is None else QColor(*override.color))
        item.set_margin(self.view.outline_margin)
        item.setVisible(self.shown(layer))

    def _set_selected_item(self, item: InstanceItem | None) -> None:
        if self.selected_item is not None and self.selected_item is not item:
            self.view.scene().removeItem(self.selected_item)
        if item is not None and item.scene() is None:
            self.view.scene().addItem(item)
        self.selected_item = item

    def selection_changed(self, old: int | None, new: int | None) -> None:
        self.sync_selected_item()
        self.redraw([self.layers[i].box for i in (old, new) if i in self.layers])

    # -- tiles ------------------------------------------------------------------------------------
    def spec(self, area: Rect, scale: float) -> TileSpec:
        visible = self.visible()
        selected = self.layers.get(self.session.selected_id)
        if selected is not None and not self.shown(selected):
            selected = None
        width = self.session.style.outline_width
        return TileSpec(area, scale, tuple(visible), selected, width)

    def wanted_area(self) -> Rect | None:
        """The view (and a margin) in global device pixels, inside the image."""
        scale = self.view.scale_factor
        seen = self.view.visible_scene_rect()
        mx, my = seen.width() * VIEW_MARGIN, seen.height() * VIEW_MARGIN
        seen = seen.adjusted(-mx, -my, mx, my)
        width, height = self._image_size
        area = (
            math.floor(seen.left() * scale),
            math.floor(seen.top() * scale),
            math.ceil(seen.right() * scale),
            math.ceil(seen.bottom() * scale),
        )
        return intersect(area, _whole_image(width, height, scale))

    def covers_view(self) -> bool:
        """Whether the tile shown, or the one being built, covers the view at the current zoom: the
        scroll that anchors a zoom step at the cursor must not start that step's build again."""
        candidates = [] if self.tile is None else [(self.tile.area, self.tile.scale)]
        if self.levers.reuse_build and self._pending is not None and self._pending_spec is not None:
            candidates.append((self._pending_spec.area, self._pending_spec.scale))
        return any(self._covers(area, scale) for area, scale in candidates)

    def _covers(self, tile_area: Rect, scale: float) -> bool:
        if scale != self.view.scale_factor:
            return False
        view = self._view_area(scale)
        inside = intersect(view, tile_area)
        return view[0] >= view[2] or view[1] >= view[3] or inside == view

    def refresh(self, *, wait: bool = False) -> None:
        """Build the tile for the view at the current zoom: at once if small (or `wait`), else in the
        worker; until it arrives the previous tile is shown stretched."""
        self._generation += 1
        self.strips.cancel()
        area = self.wanted_area() if self.layers else None
        if area is None:
            self._pending = None
            self._install(None, None)
            return
        spec = self.spec(area, self.view.scale_factor)
        if self._show_ready(spec):
            return
        if wait or work_estimate(spec) <= SYNC_WORK_PX:
            self._pending = None
            self._install(spec, build_tile(spec, bands=self.levers.bands))
            return
        self._pending = self._generation
        self._pending_spec = spec
        self._dirty = []
        first = self._first_part(spec) if self.levers.visible_first else None
        build = partial(self.builder.build, self._generation, spec, bands=self.levers.bands, first=first)
        if not self.levers.paint_first:
            build()
            return
        # After the frame this change asked for: the build's two threads would share both cores (and
        # the GIL) with that frame.
        generation = self._generation
        QTimer.singleShot(0, self, lambda: generation == self._pending and build())

    def show_ready(self) -> bool:
        """Show the exact tile for the view at this zoom if one is at hand (made ahead for this wheel
        notch, or kept from the zoom just left), and say so: the wheel's zoom then needs no settling."""
        area = self.wanted_area() if self.layers else None
        if area is None:
            return False
        spec = self.spec(area, self.view.scale_factor)
        if self._ready_tile(spec, take=False) is None:
            return False
        self._generation += 1
        self.strips.cancel()
        return self._show_ready(spec)

    def _show_ready(self, spec: TileSpec) -> bool:
        """Install a tile at hand that shows `spec`'s picture over the view, keeping the tile it replaces
        for the step back; whether there was one."""
        kept = self._kept_for_return(spec.scale)
        ready = self._ready_tile(spec, take=True)
        if kept is not None:
            self._replaced = kept
        if ready is None:
            return False
        self._pending = None
        self._install(ready[0], ready[1:])
        return True

    def _ready_tile(self, spec: TileSpec, *, take: bool) -> Made | None:
        """A tile made ahead (for this image's switch, for this notch) or kept from the zoom a step left,
        if it shows `spec`'s picture over the whole view (a pan past it builds the margin), with its
        patch; `take` hands over what was made ahead."""
        ahead = self._ahead
        if take:
            self._ahead = None  # only the first refresh after a switch may use it
        if ahead is not None and same_picture(spec, ahead[0]):
            return (*ahead, None)  # at fit, nothing selected
        view = replace(spec, area=self._view_area(spec.scale))
        notches = (self.zoom_ahead, self.zoom_out_ahead, self.fit_ahead)
        for ahead_of in notches:
            made = (ahead_of.take if take else ahead_of.peek)(partial(_shows_within, view))
            if made is not None:
                if take:  # the notches from the zoom left are of no use from this one; fit still is
                    for other in notches[:2]:
                        other.forget()
                return made
        if self._replaced is not None and _shows_within(view, self._replaced[0]):
            return (*self._replaced, None)  # the step back to the zoom a step left (nothing selected)
        return None

    def _view_area(self, scale: float) -> Rect:
        """The view in global device pixels at `scale`, inside the image."""
        seen = self.view.visible_scene_rect()
        width, height = self._image_size
        return (
            math.floor(max(seen.left(), 0) * scale),
            math.floor(max(seen.top(), 0) * scale),
            math.ceil(min(seen.right(), width) * scale),
            math.ceil(min(seen.bottom(), height) * scale),
        )

    def _kept_for_return(self, scale: float) -> tuple[TileSpec, np.ndarray] | None:
        """The tile shown, when a zoom step to `scale` replaces it and it is the exact picture of its
        zoom with nothing selected (no build or strips in flight): zooming back shows it at once."""
        tile = self.tile
        if not self.levers.zoom_back or tile is None or tile.scale == scale:
            return None
        x0, y0, x1, y1 = tile.area
        return self._exact_picture() if (x1 - x0) * (y1 - y0) <= KEPT_PX else None

    def _first_part(self, spec: TileSpec) -> Rect | None:
        """The view's part of a tile, if building it first saves a good share (zoomed in, a tile is
        2.25 times the view: the margin lets a short pan need no build)."""
        seen = self.view.visible_scene_rect()
        scale = spec.scale
        view = (
            math.floor(seen.left() * scale),
            math.floor(seen.top() * scale),
            math.ceil(seen.right() * scale),
            math.ceil(seen.bottom() * scale),
        )
        first = intersect(view, spec.area)
        if first is None:
            return None
        x0, y0, x1, y1 = spec.area
        share = (first[2] - first[0]) * (first[3] - first[1]) / ((x1 - x0) * (y1 - y0))
        return first if share < FIRST_PART_SHARE else None

    def shows_view(self) -> bool:
        """Whether the exact overlay for the view at this zoom is on screen (what a person waits for)."""
        tile = self.tile
        return tile is not None and self._covers(tile.area, tile.scale)

    @property
    def building(self) -> bool:
        """Whether a tile, or an edit's strips, are still being composited."""
        return self._pending is not None or self.strips.pending

    def _resume_ahead(self) -> None:
        """The work made ahead waits while a tile or strips are built: go on with it (this image's next
        zoom first, then the next image)."""
        self.zoom_ahead.resume()
        self.zoom_out_ahead.resume()
        self.fit_ahead.resume()
        self.shown_crops.resume()
        self.prefetcher.resume()

    def _strips_landed(self, drawn: list[Rect], patch: object, alike: Rect | None) -> None:
        self._resume_ahead()
        tile = self.tile
        for rect in drawn:
            self.view.invalidate_background(_scene_rect(rect, tile.scale))
        if patch is not KEEP:
            self._set_patch(self.spec(tile.area, tile.scale), patch, alike)

    def _on_built(self, generation: int, payload: object) -> None:
        if generation != self._pending:
            return  # stale: the view, the image or the style moved on
        spec, result = payload
        if isinstance(result, FirstPart):  # the whole tile follows: still pending, boxes still dirty
            x0, y0, x1, y1 = spec.local(result.area)
            self.tile = Tile.of(result.area, spec.scale, result.buffer[y0:y1, x0:x1])
            patch = result.patch
            self.patch.set_tile(None if patch is None else Tile.of(patch[0], spec.scale, patch[1]))
            self.view.invalidate_background()
            if self._dirty and len(self._dirty) <= MANY_BOXES:
                self.redraw(self._dirty, remember=False)
            return
        self._pending = None
        self._resume_ahead()
        if isinstance(result, Exception):
            self.view.render_failed(result)
            return
        if result[1] is KEEP_PATCH:
            self.tile = Tile.of(spec.area, spec.scale, result[0])
            self.view.invalidate_background()
            self.hold_ahead()  # then the next notch's tile
        else:
            self._install(spec, result)
        self.redraw(self._dirty)
        self._dirty = []

    def _install(self, spec: TileSpec | None, result) -> None:
        self.strips.cancel()
        if spec is None:
            self.tile = None
            self.patch.set_tile(None)
        else:
            pixels, patch = result
            self.tile = Tile.of(spec.area, spec.scale, pixels)
            self.patch.set_tile(None if patch is None else Tile.of(patch[0], spec.scale, patch[1]))
        self.view.invalidate_background()
        if self._pending is None:
            self.hold_ahead()  # then the next notch's tile

    def _start_zoom_ahead(self) -> None:
        """Composite, while idle, what the view shows now at the zoom one wheel notch in gives (at fit,
        the whole image): wherever the pointer anchors that notch, it shows part of it, so the wheel's
        next step shows the exact picture at once. Zoomed in, then the same for a notch out, then the
        tile at fit."""
        if not self.levers.zoom_ahead or self.tile is None or not self.layers:
            self._resume_ahead()  # the rest of the work made ahead
            return
        self._make_ahead(self.zoom_ahead, self.view.notch_scale(), out=False)
        fit = self.view.fit_scale(*self._image_size)
        zoomed_in = fit is not None and self.view.scale_factor > fit * 1.01
        if self.levers.zoom_out_ahead and zoomed_in:  # at fit the whole image shows: a notch out, rare
            self._make_ahead(self.zoom_out_ahead, self.view.notch_scale(out=True), out=True)
        else:
            self.zoom_out_ahead.forget()
        if self.levers.fit_ahead and zoomed_in:  # F, to see the whole image again after a close look
            self._make_fit_ahead(fit)
        else:
            self.fit_ahead.forget()
        self._resume_ahead()

    def _make_fit_ahead(self, fit: float) -> None:
        """Start `fit_ahead` on the whole image at `fit`."""
        self._start_ahead(self.fit_ahead, _whole_image(*self._image_size, fit), fit)

    def _make_ahead(self, ahead: TileAhead, scale: float, *, out: bool) -> None:
        """Start `ahead` on the tile a notch to `scale` shows, wherever the pointer anchors it (unless the
        notch does not zoom that way; `_start_ahead` says when else not)."""
        width, height = self._image_size
        x0, y0, x1, y1 = self._view_area(scale)
        # A notch out shows the view and more around it: anchored at the view's right edge, the view's
        # width times (current / scale - 1) more to the left, and so on. The notch's scroll moves in whole
        # pixels, so its view may reach a pixel past this one's.
        grow = self.view.scale_factor / scale - 1 if out else 0.0
        gx, gy = math.ceil((x1 - x0) * grow) + 2, math.ceil((y1 - y0) * grow) + 2
        area = intersect((x0 - gx, y0 - gy, x1 + gx, y1 + gy), _whole_image(width, height, scale))
        if area is None or (scale >= self.tile.scale if out else scale <= self.tile.scale):
            ahead.forget()
            return
        self._start_ahead(ahead, area, scale)

    def _start_ahead(self, ahead: TileAhead, area: Rect, scale: float) -> None:
        """Start `ahead` on `area` at `scale` unless it has that picture already, or the tile is too large
        to hold, or something is selected and the lever for that is off (then it forgets what it had)."""
        spec = None if (area[2] - area[0]) * (area[3] - area[1]) > ZOOM_AHEAD_PX else self.spec(area, scale)
        if spec is None or (spec.selected is not None and not self.levers.zoom_ahead_selected):
            ahead.forget()
            return
        made = ahead.spec
        if made is None or not same_picture(made, spec):
            ahead.start(spec)

    def redraw(self, boxes: list[Box], *, remember: bool = True) -> None:
        """Draw the tile again inside these boxes (instances changed there), and the patch; with a
        build in flight, `remember` them to draw again in what it brings."""
        if boxes:
            self._replaced = None  # the picture changes: a tile kept from another zoom shows the old one
        if len(boxes) > MANY_BOXES and self.tile is not None:
            # A batch of predictions arriving: one rebuild (in the worker when large) costs far less
            # GUI-thread time than recompositing each box (measured 340 ms for 100 boxes).
            self.refresh()
            return
        self.hold_ahead()
        if self._pending is not None and remember:
            self._dirty.extend(boxes)
        tile = self.tile
        if tile is None:
            if self.layers and self._pending is None:
                self.refresh()  # the first instances of an image that had none: no tile to patch yet
            return
        spec = self.spec(tile.area, tile.scale)
        pad = outline_pad(spec.line_width)
        rects = [
            (
                math.floor(x0 * tile.scale) - pad,
                math.floor(y0 * tile.scale) - pad,
                math.ceil(x1 * tile.scale) + pad,
                math.ceil(y1 * tile.scale) + pad,
            )
            for x0, y0, x1, y1 in boxes
        ]
        if self._later(spec, rects):
            return
        for rect in rects:
            local = spec.local(rect)
            if local is not None:
                render_base_exact(tile.pixels, local, spec)  # as the whole tile draws its edges
                self.view.invalidate_background(_scene_rect(rect, tile.scale))
        patch = render_patch(spec)
        self.patch.set_tile(None if patch is None else Tile.of(patch[0], spec.scale, patch[1]))

    def _later(self, spec: TileSpec, rects: list[Rect]) -> bool:
        """Whether the boxes to redraw (and the patch) are left to the worker: when large (an edit of a
        large instance zoomed in took 1.2 s here for its two boxes, three times when a build was in
        flight) or when earlier strips are still to come. The tile shows its previous pixels there
        until they land; a build in flight took its layers before this change, so it starts again."""
        if not self.levers.strips_in_worker:
            return False
        tile = self.tile
        rects = [rect for rect in (intersect(rect, tile.area) for rect in rects) if rect is not None]
        todo = self.strips.todo
        selected = spec.selected_area()
        if todo is None and not _too_much_now(spec, rects + ([] if selected is None else [selected])):
            return False
        if self._pending is not None:
            self.refresh()
            return True
        prior = todo.tile_rects if todo is not None and todo.tile is tile else []
        self.strips.bands = self.levers.bands
        self.strips.submit(
            spec,
            Todo(tile, prior + rects, True, self.patch.tile, None, reuse=False),
            after_frame=self.levers.paint_first,
        )
        return True

    def draw(self, painter: QPainter, exposed: QRectF) -> None:
        if self.tile is not None:
            self.tile.draw(painter, exposed)

    # -- labels -----------------------------------------------------------------------------------
    def refresh_labels(self) -> None:
        style = self.session.style
        labels = []
        if style.show_labels:
            cache, self._label_cache = self._label_cache, {}
            for layer in reversed(self.visible()):
                cached = cache.get(layer.instance_id)
                label = cached[1] if cached is not None and cached[0] is layer else self._label(layer)
                self._label_cache[layer.instance_id] = (layer, label)
                labels.append(label)
        width, height = self._image_size
        self.labels.set_labels(labels, QRectF(0, 0, width, height), self.view.scale_factor)

    def _label(self, layer: Layer) -> Label:
        dataset, style = self.session.dataset, self.session.style
        category = dataset.categories.get(layer.category_id)
        text = category.name if category is not None else f"class {layer.category_id}"
        score = dataset.instances[layer.instance_id].score
        if style.show_scores and score is not None:
            text += f" {score:.2f}"
        if layer.dash is Dash.DOT:  # faint and dotted on the canvas; its label said nothing of it
            text += " · rejected"
        override = self.session.overrides.get(layer.instance_id)
        if override is not None and override.note:
            text += f" · {override.note}"
        color = instance_color(category, layer.category_id) if override is None else QColor(*override.color)
        return Label(QPointF(layer.box[0], layer.box[1]), text, color)


def _too_much_now(spec: TileSpec, rects: list[Rect]) -> bool:
    """Whether redrawing `rects` (device pixels) would hold the GUI thread too long: left to the worker."""
    return layer_area(spec, rects) > SYNC_STRIP_PX or layers_meeting(spec, rects) > SYNC_STRIP_LAYERS


def _fewer_rects(spec: TileSpec, rects: list[Rect]) -> list[Rect]:
    """`rects`, or the one rectangle bounding them when compositing it covers at most BOUND_AREA_RATIO
    times their layer area: each rectangle composites every layer reaching it, and that per-layer cost
    (sampling, blending, clipping its outline), not the pixels, dominates thin strips (a vertex drag's
    release at fit composited ten strips of a few layers each in 25 ms)."""
    if len(rects) < 2:
        return rects
    bound = (
        min(r[0] for r in rects),
        min(r[1] for r in rects),
        max(r[2] for r in rects),
        max(r[3] for r in rects),
    )
    return [bound] if layer_area(spec, [bound]) <= BOUND_AREA_RATIO * layer_area(spec, rects) else rects


def _whole_image(width: int, height: int, scale: float) -> Rect:
    """The whole image in device pixels at `scale`: the tile at fit, and what a view's tile is cut from."""
    return (0, 0, math.ceil(width * scale), math.ceil(height * scale))


def _shows_within(wanted: TileSpec, made: TileSpec) -> bool:
    """Whether the tile of `made` holds the one `wanted` asks for: the same picture over a larger area."""
    inside = intersect(wanted.area, made.area) == wanted.area
    return inside and same_picture(replace(wanted, area=made.area), made)


def _scene_rect(rect: Rect, scale: float) -> QRectF:
    x0, y0, x1, y1 = rect
    return QRectF(x0 / scale, y0 / scale, (x1 - x0) / scale, (y1 - y0) / scale)
