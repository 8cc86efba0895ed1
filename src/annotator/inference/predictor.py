"""The torch predictor: Mask R-CNN run stage by stage, so that only kept detections cost anything.

Against the naive `model([to_tensor(img)])[0]` then `masks > 0.5` it saves time in these places, each
measured in `bench/prelabel.py`:
- the score threshold and the class filter act inside the box head (before NMS and the mask head), so
  rejected detections never get a mask;
- each mask is pasted only inside its box (torchvision's own interpolation, so the pixels are the same)
  and encoded to RLE from a reused buffer, instead of 100 full-resolution float masks;
- unless `--precision fp32`: the image is resized before it is normalized (half the pixels at
  1920x1080); BatchNorm is folded into the backbone's convolutions, which run in channels_last memory;
  RoIAlign reads that memory directly, as two small GEMMs per box with the boxes split across the cores
  (`roi_align.py`), and the box head reads RoIAlign's output as it lies in memory; and on CPUs with
  native bfloat16 (avx512_bf16 or AMX) everything after the ResNet body (FPN, RPN, box and mask heads)
  runs in bf16 (see `_bf16_stages`), its weights converted once rather than by autocast per image;
  on CPUs whose best is AVX2 the 3x3 convolutions of the FPN, the RPN and the mask head run by
  Winograd's algorithm instead (`winograd.py`: a fifth of the multiplications, same result to rounding).

The processes that run it also keep freed memory in their heap (`allocator.py`).
"""

from __future__ import annotations

import copy
import functools
import os
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch.nn.utils.fusion import fuse_conv_bn_weights
from torchvision.models.detection.faster_rcnn import TwoMLPHead
from torchvision.models.detection.image_list import ImageList
from torchvision.models.detection.roi_heads import expand_boxes, expand_masks, maskrcnn_inference
from torchvision.models.detection.rpn import concat_box_prediction_layers
from torchvision.models.detection.transform import resize_boxes
from torchvision.ops import FrozenBatchNorm2d
from torchvision.ops import boxes as box_ops

from annotator.core.geometry import Mask, Rle, area
from annotator.core.predictor import (
    BoxMask,
    BoxPrompt,
    Detection,
    Device,
    ImageNotPrepared,
    ModelSpec,
    Precision,
    PredictOptions,
    PredictorInfo,
    Runtime,
)
from annotator.inference import roi_align, winograd
from annotator.inference.models import LoadedModel, load_model, trained_input_size


@functools.cache
def cpu_has_native_bf16() -> bool:
    """True on CPUs with avx512_bf16 or AMX, where bf16 matmuls are faster than fp32 (not emulated)."""
    try:
        flags = set(Path("/proc/cpuinfo").read_text().split())
    except OSError:
        flags = set()
    if flags & {"avx512_bf16", "amx_bf16"}:
        return True
    return torch.backends.cpu.get_cpu_capability() in ("AVX512_BF16", "AMX")  # other OSes, newer torch


def configure_threads() -> int:
    """Use every core this process may run on (torch's default can count SMT siblings or too few)."""
    try:
        count = len(os.sched_getaffinity(0))
    except AttributeError:
        count = os.cpu_count() or 1
    torch.set_num_threads(max(1, count))
    return torch.get_num_threads()


class TorchPredictor:
    """A loaded Mask R-CNN behind the `core.predictor.Predictor` interface. Not thread-safe: one worker owns it.

    Unless fp32, it tunes `loaded.model` in place (folded BatchNorm, bf16 stages), so a `LoadedModel`
    serves one predictor: build another from a copy.
    """

    def __init__(
        self,
        loaded: LoadedModel,
        *,
        device: Device = Device.AUTO,
        precision: Precision = Precision.AUTO,
        bf16_stages: tuple[str, ...] | None = None,
        winograd_stages: tuple[str, ...] | None = None,
        runtime: Runtime = Runtime.TORCH,
        openvino_precision: str | None = None,
    ):
        """`bf16_stages` and `winograd_stages` override the precision's choice of `STAGES` to run in bf16
        and of those whose 3x3 convolutions use Winograd's algorithm (for benchmarks).

        `runtime`: what runs the body, the FPN, the RPN head and the mask head (`pick_runtime`); `openvino_precision` overrides
        OpenVINO's inference precision ("bf16" or "f32"; default: bf16 where native, unless fp32)."""
        for stages in (bf16_stages, winograd_stages):
            if stages is not None and not set(stages) <= set(STAGES):
                raise ValueError(f"stages must be among {STAGES}, got {stages}")
        self.loaded = loaded
        self.device = _pick_device(device)
        precision = Precision(precision)
        self.tuned = precision is not Precision.FP32
        self.bf16_stages = _bf16_stages(precision, self.device) if bf16_stages is None else bf16_stages
        if winograd_stages is None:
            winograd_stages = _winograd_stages(precision, self.device, self.bf16_stages)
        self.winograd_stages = winograd_stages
        if not self.tuned and (self.bf16_stages or self.winograd_stages):
            raise ValueError("--precision fp32 runs no stage in bf16 and no convolution by Winograd")
        self.runtime = pick_runtime(runtime, self.device, precision)
        model = loaded.model.to(self.device).eval()
        if self.tuned:  # fp32 keeps torchvision's exact arithmetic, as the reference
            fold_batchnorm(model.backbone.body)
            model = model.to(memory_format=torch.channels_last)
        self._openvino = self._openvino_mask_head = None
        if self.runtime is Runtime.OPENVINO:  # converted before any stage goes bf16 in torch
            if openvino_precision is None:
                openvino_precision = "bf16" if self.tuned and cpu_has_native_bf16() else "f32"
            self._openvino, self._openvino_mask_head = _openvino_parts(model, openvino_precision)
        if self.tuned:
            heads = model.roi_heads
            if isinstance(heads.box_head, TwoMLPHead) and roi_align.supports(heads.box_roi_pool):
                heads.box_head = MLPHeadOnPooledLayout(heads.box_head, heads.box_roi_pool.output_size)
            for stage in self.bf16_stages:  # once, instead of autocast casting every weight per image
                for module in _stage_modules(model, stage):
                    module.to(torch.bfloat16)
            for stage in self.winograd_stages:
                for module in _stage_modules(model, stage):
                    winograd.use_winograd(module)
            roi_align.keep_numpy_blas_single_threaded()
        self.model = model
        self._declared = frozenset(c.id for c in loaded.categories)
        self._label_columns: dict[tuple[int, ...] | None, torch.Tensor] = {}
        self._rpn_defaults = (model.rpn._pre_nms_top_n["testing"], model.rpn._post_nms_top_n["testing"])
        self._labels = torch.tensor(loaded.label_to_category, device=self.device)
        self._pool_workers = torch.get_num_threads() if self.device.type == "cpu" else 1
        self._pool_threads = ThreadPoolExecutor(self._pool_workers, "roi-align")
        self._boxes = None  # box-to-mask, made on first use
        self._info = PredictorInfo(
            name=loaded.source,
            categories=loaded.categories,
            device=self.device.type,
            precision=_describe_precision(self.bf16_stages, self.winograd_stages, self.tuned, self._openvino),
            input_size=trained_input_size(loaded),
        )

    @classmethod
    def from_spec(cls, spec: ModelSpec) -> TorchPredictor:
        return cls(load_model(spec), device=spec.device, precision=spec.precision, runtime=spec.runtime)

    @property
    def info(self) -> PredictorInfo:
        return self._info

    def predict(self, image: np.ndarray, options: PredictOptions) -> list[Detection]:
        """Detections on an (H, W, 3) uint8 RGB image, highest score first."""
        return self._predict(image, options, embed=False)[0]

    def predict_and_embed(
        self, image: np.ndarray, options: PredictOptions
    ) -> tuple[list[Detection], np.ndarray]:
        """`predict`'s detections, and the image's embedding for "label next" (`pooled_pyramid`), from the
        features the detections needed anyway."""
        return self._predict(image, options, embed=True)

    def _predict(self, image: np.ndarray, options: PredictOptions, *, embed: bool):
        if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
            raise ValueError(f"expected an (H, W, 3) uint8 image, got {image.shape} {image.dtype}")
        with torch.no_grad():
            images, features, pooling, rpn_head = self._features(image, options)
            network = self._heads(image, images, features, pooling, rpn_head, options)
            detections = self._detections(*network, image.shape[:2], options)
            return detections, pooled_pyramid(pooling, images) if embed else None

    def prepare_image(self, key: object, path: Path) -> None:
        """Decode the image at `path` and keep its FPN features under `key`, for boxes (box-to-mask)."""
        from annotator.io.images import load_rgb

        self._box_segmenter().prepare(key, load_rgb(path))

    def segment_box(self, key: object, prompt: BoxPrompt) -> BoxMask:
        """The mask the heads find in `prompt.box` on the image prepared under `key`."""
        segmenter = self._box_segmenter()
        if not segmenter.is_prepared(key):
            raise ImageNotPrepared(f"no image prepared as {key!r}")
        return segmenter.segment(key, None, prompt)

    def _box_segmenter(self):
        if self._boxes is None:
            from annotator.inference.box_prompt import BoxSegmenter  # it builds on this class

            self._boxes = BoxSegmenter(self)  # its input size follows the model's and the image's
        return self._boxes

    def run_network(
        self, image: np.ndarray, options: PredictOptions
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """Boxes (in image pixels), scores, label indices and 28x28 mask probabilities of kept detections."""
        return self._heads(image, *self._features(image, options), options)

    def _heads(self, image, images, features, pooling, rpn_head, options: PredictOptions):
        """`run_network` after the backbone and the FPN."""
        proposals = self._proposals(images, features, pooling, options, rpn_head)
        boxes, scores, labels = self._box_head(pooling, proposals, images.image_sizes, options)
        mask_logits = self._mask_head(pooling, boxes, images.image_sizes)
        mask_probs = maskrcnn_inference(mask_logits.float(), [labels])[0]
        boxes = resize_boxes(boxes, images.image_sizes[0], list(image.shape[:2]))
        return boxes, scores, labels, mask_probs

    def backbone_features(
        self, image: np.ndarray, options: PredictOptions
    ) -> tuple[ImageList, OrderedDict, OrderedDict]:
        """The network's input batch, the FPN pyramid in its stage's dtype, and the pyramid RoIAlign reads
        (float32): what every head needs, computed once per image (box-to-mask reuses it per box)."""
        images, features, pooling, _ = self._features(image, options)
        return images, features, pooling

    def _features(self, image: np.ndarray, options: PredictOptions):
        """`backbone_features`, and the RPN head's objectness and deltas per level where OpenVINO ran it
        with the backbone (else None: `_proposals` runs it)."""
        if not image.flags.writeable or any(stride < 0 for stride in image.strides):
            image = image.copy()  # torch takes neither a read-only array nor a flipped view (img[..., ::-1])
        model = self.model
        model.transform.min_size = (options.min_size,)
        model.transform.max_size = options.max_size
        images = self._input_batch(image) if self.tuned else self._exact_input_batch(image)
        if self._openvino is not None:
            features, objectness, deltas = self._openvino(images.tensors)
            return images, features, self._pooling_features(features), (objectness, deltas)
        levels = model.backbone.body(images.tensors.to(self._dtype("body")))
        fpn_dtype = self._dtype("fpn")
        # Winograd reads NCHW: the FPN and the RPN then run in it, and RoIAlign gets a channels_last copy
        layout = torch.contiguous_format if "fpn" in self.winograd_stages else torch.preserve_format
        features = model.backbone.fpn(
            OrderedDict((k, v.to(fpn_dtype, memory_format=layout)) for k, v in levels.items())
        )
        return images, features, self._pooling_features(features), None

    def box_head(self, pooling: OrderedDict, boxes: torch.Tensor, image_sizes) -> torch.Tensor:
        """Class logits of `boxes` (network input pixels), as the box head scores a proposal."""
        heads = self.model.roi_heads
        pooled = self._roi_align(heads.box_roi_pool, pooling, boxes, image_sizes)
        class_logits, _ = heads.box_predictor(heads.box_head(pooled.to(self._dtype("box"))).float())
        return class_logits

    def mask_logits(self, pooling: OrderedDict, boxes: torch.Tensor, image_sizes) -> torch.Tensor:
        """28x28 mask logits of every class for `boxes` (network input pixels)."""
        return self._mask_head(pooling, boxes, image_sizes)

    def _exact_input_batch(self, image: np.ndarray) -> ImageList:
        """torchvision's transform as the naive loop runs it: scale to [0, 1], normalize, resize, pad."""
        tensor = torch.from_numpy(image).to(self.device).permute(2, 0, 1).float().div_(255)
        return self.model.transform([tensor])[0]

    def _input_batch(self, image: np.ndarray) -> ImageList:
        """The same batch, channels_last, at about half the cost: resized first, then normalized.

        Bilinear resizing is linear with weights summing to 1, so normalizing after it is normalizing
        before it up to rounding; after it, it touches half the pixels (1920x1080 to 1333x750), and
        the scaling by 1/255 joins the normalization.
        """
        transform = self.model.transform
        pixels = torch.from_numpy(image).to(self.device)
        resized = transform.resize(pixels.permute(2, 0, 1).float(), None)[0]  # channels_last like `pixels`
        mean = torch.tensor(transform.image_mean, device=self.device) * 255
        scale = 1 / (torch.tensor(transform.image_std, device=self.device) * 255)
        height, width = resized.shape[-2:]
        multiple = transform.size_divisible
        padded = (-(-height // multiple) * multiple, -(-width // multiple) * multiple)
        batch = torch.zeros((1, 3, *padded), device=self.device).contiguous(memory_format=torch.channels_last)
        batch[0, :, :height, :width] = resized.sub_(mean[:, None, None]).mul_(scale[:, None, None])
        return ImageList(batch, [(height, width)])

    def _pooling_features(self, features: OrderedDict) -> OrderedDict:
        """The pyramid in float32 for RoIAlign: channels_last for ours, NCHW for torchvision's kernel."""
        if self.tuned:
            return OrderedDict(
                (k, v.float().contiguous(memory_format=torch.channels_last)) for k, v in features.items()
            )
        return OrderedDict((k, v.float().contiguous()) for k, v in features.items())

    def _proposals(
        self, images, features, pooling, options: PredictOptions, rpn_head=None
    ) -> list[torch.Tensor]:
        """The RPN's forward pass, the head in its stage's dtype but anchors and box decoding in float32.
        `rpn_head`: the head's objectness and deltas per level where OpenVINO ran it.

        (torchvision makes anchors in the features' dtype and its decoder casts them to the deltas'
        dtype: in bf16 a coordinate near 1000 is rounded to 4 pixels.)
        """
        rpn = self.model.rpn
        pre, post = self._rpn_defaults if options.proposals is None else (options.proposals,) * 2
        rpn._pre_nms_top_n["testing"], rpn._post_nms_top_n["testing"] = pre, post
        if rpn_head is None:
            dtype = self._dtype("rpn")
            fpn_dtype = next(iter(features.values())).dtype
            source = pooling if fpn_dtype != dtype == torch.float32 else features  # float32 already, once
            objectness, deltas = rpn.head([level.to(dtype) for level in source.values()])
            objectness, deltas = [o.float() for o in objectness], [d.float() for d in deltas]
        else:
            objectness, deltas = rpn_head
        levels = list(pooling.values())
        anchors = rpn.anchor_generator(images, levels)
        per_level = [o[0].numel() for o in objectness]
        objectness, deltas = concat_box_prediction_layers(objectness, deltas)
        proposals = rpn.box_coder.decode(deltas, anchors).view(len(anchors), -1, 4)
        boxes, _ = rpn.filter_proposals(proposals, objectness, images.image_sizes, per_level)
        return boxes

    def _box_head(self, features, proposals, image_sizes, options: PredictOptions):
        heads = self.model.roi_heads
        pooled = self._roi_align(heads.box_roi_pool, features, proposals[0], image_sizes)
        box_features = heads.box_head(pooled.to(self._dtype("box")))
        class_logits, box_regression = heads.box_predictor(box_features.float())  # small: kept in fp32
        return self._postprocess(class_logits, box_regression, proposals[0], image_sizes[0], options)

    def _postprocess(self, class_logits, box_regression, proposals, image_size, options: PredictOptions):
        """torchvision's `postprocess_detections` for one image, keeping only the wanted labels.

        Scores are the softmax over all classes, as the model gives them; labels without a category
        ("N/A" slots of COCO) or outside `options.classes` are dropped before the threshold, NMS (per
        class, so unaffected) and the top-k cut.
        """
        heads = self.model.roi_heads
        boxes = box_ops.clip_boxes_to_image(heads.box_coder.decode(box_regression, [proposals]), image_size)
        scores = F.softmax(class_logits, -1)
        labels = torch.arange(scores.shape[-1], device=scores.device).expand_as(scores)
        columns = self._wanted_labels(options.classes)
        boxes, scores, labels = (
            boxes[:, columns].reshape(-1, 4),
            scores[:, columns].reshape(-1),
            labels[:, columns].reshape(-1),
        )
        keep = torch.where(scores >= options.score_threshold)[0]
        boxes, scores, labels = boxes[keep], scores[keep], labels[keep]
        keep = box_ops.remove_small_boxes(boxes, min_size=1e-2)
        boxes, scores, labels = boxes[keep], scores[keep], labels[keep]
        keep = box_ops.batched_nms(boxes, scores, labels, heads.nms_thresh)[: options.max_detections]
        return boxes[keep], scores[keep], labels[keep]

    def _wanted_labels(self, classes: frozenset[int] | None) -> torch.Tensor:
        key = None if classes is None else tuple(sorted(classes))
        if key not in self._label_columns:
            wanted = self._declared if classes is None else self._declared & classes
            columns = [
                label
                for label, cid in enumerate(self.loaded.label_to_category)
                if label > 0 and cid in wanted
            ]
            self._label_columns[key] = torch.tensor(columns, dtype=torch.int64, device=self.device)
        return self._label_columns[key]

    def _mask_head(self, features, boxes, image_sizes) -> torch.Tensor:
        heads = self.model.roi_heads
        if boxes.shape[0] == 0:
            return torch.zeros(
                (0, heads.mask_predictor.mask_fcn_logits.out_channels, 28, 28), device=boxes.device
            )
        pooled = self._roi_align(heads.mask_roi_pool, features, boxes, image_sizes)
        if self._openvino_mask_head is not None:
            return self._openvino_mask_head(pooled)
        return heads.mask_predictor(heads.mask_head(pooled.to(self._dtype("mask")))).float()

    def _roi_align(self, pooler, features, boxes: torch.Tensor, image_sizes) -> torch.Tensor:
        """`pooler` (a MultiScaleRoIAlign) over `boxes`, in one chunk of boxes per core.

        Tuned: `roi_align.multiscale_roi_align` reads the channels_last pyramid as it is (1000 proposals
        about 4x faster than torchvision's kernel with the NCHW copy it needs, bench/roi_align.py). fp32:
        torchvision's kernel, each box pooled on its own, so chunks on several threads give exactly the
        values of one call.
        """
        if self.tuned and roi_align.supports(pooler):
            return roi_align.multiscale_roi_align(
                pooler, features, boxes, image_sizes[0], self._pool_threads, self._pool_workers
            )
        if self._pool_workers < 2 or boxes.shape[0] < 64:
            return pooler(features, [boxes], image_sizes)
        chunks = boxes.tensor_split(self._pool_workers)
        return torch.cat(list(self._pool_threads.map(lambda c: pooler(features, [c], image_sizes), chunks)))

    def _detections(
        self, boxes, scores, labels, mask_probs, shape, options: PredictOptions
    ) -> list[Detection]:
        """Detections with their masks pasted; masks under `options.min_mask_area` pixels are dropped."""
        height, width = int(shape[0]), int(shape[1])
        masks = paste_masks_in_boxes(mask_probs, boxes, height, width, options.mask_threshold)
        category_ids = self._labels[labels].tolist()
        result = []
        for box, score, category_id, mask in zip(
            boxes.tolist(), scores.tolist(), category_ids, masks, strict=True
        ):
            if not options.min_mask_area or area(mask, height, width) >= options.min_mask_area:
                result.append(Detection(int(category_id), float(score), tuple(box), mask))
        return result

    def _dtype(self, stage: str) -> torch.dtype:
        return torch.bfloat16 if stage in self.bf16_stages else torch.float32


def pooled_pyramid(pyramid: Mapping[str, torch.Tensor], images: ImageList) -> np.ndarray:
    """Each level of the FPN pyramid averaged over the image's own part (not the batch's padding), the
    levels side by side (float32): near-identical frames give near-identical vectors, other scenes others."""
    height, width = images.image_sizes[0]
    batch_height, batch_width = images.tensors.shape[-2:]
    parts = []
    for level in pyramid.values():
        level_height, level_width = level.shape[-2:]
        rows = max(1, -(-height * level_height // batch_height))
        columns = max(1, -(-width * level_width // batch_width))
        parts.append(level[0, :, :rows, :columns].float().mean(dim=(1, 2)))
    return torch.cat(parts).cpu().numpy()


def paste_masks_in_boxes(
    mask_probs: torch.Tensor, boxes: torch.Tensor, height: int, width: int, threshold: float
) -> list[Mask]:
    """Threshold each 28x28 mask pasted into its box, exactly as torchvision's `paste_masks_in_image`.

    Only the box region is interpolated; the full-size mask exists only as one reused uint8 buffer that
    pycocotools encodes (then the box region is cleared again).
    """
    if mask_probs.shape[0] == 0:
        return []
    padded, scale = expand_masks(mask_probs, padding=1)
    int_boxes = expand_boxes(boxes, scale).to(dtype=torch.int64).tolist()
    canvas = np.zeros((height, width), dtype=np.uint8, order="F")
    from pycocotools import mask as mask_utils

    result = []
    for prob, (bx0, by0, bx1, by1) in zip(padded, int_boxes, strict=True):
        w, h = max(bx1 - bx0 + 1, 1), max(by1 - by0 + 1, 1)
        x0, x1 = max(bx0, 0), min(bx1 + 1, width)
        y0, y1 = max(by0, 0), min(by1 + 1, height)
        if x1 > x0 and y1 > y0:
            resized = F.interpolate(prob[None], size=(h, w), mode="bilinear", align_corners=False)[0, 0]
            crop = resized[y0 - by0 : y1 - by0, x0 - bx0 : x1 - bx0] > threshold
            canvas[y0:y1, x0:x1] = crop.cpu().numpy()
        encoded = mask_utils.encode(canvas)
        result.append(Mask(Rle(height, width, encoded["counts"])))
        canvas[y0:y1, x0:x1] = 0
    return result


def _describe_precision(
    bf16_stages: tuple[str, ...], winograd_stages: tuple[str, ...], tuned: bool, openvino=None
) -> str:
    if openvino is not None:
        heads = [stage for stage in bf16_stages if stage not in ("body", "fpn", "rpn", "mask")]
        words = [
            f"OpenVINO {openvino.precision} body+fpn+rpn+mask",
            f"bf16 {'+'.join(heads)}" if heads else "fp32 box head",
        ]
        return ", ".join(words)
    if not tuned:
        return "fp32"
    words = [f"bf16 {'+'.join(bf16_stages)}" if bf16_stages else "fp32", "folded BN"]
    if winograd_stages:
        words.append(f"Winograd 3x3 in {'+'.join(winograd_stages)}")
    return ", ".join(words)


def fold_batchnorm(body: torch.nn.Module) -> None:
    """Fold each ResNet BatchNorm into the convolution before it (in place; eval only).

    Saves a pass over every activation map; the arithmetic changes only by rounding (about 1e-7).
    """
    for module in list(body.modules()):
        pairs = [(f"conv{i}", f"bn{i}") for i in (1, 2, 3)]
        for conv_name, bn_name in pairs:
            conv, bn = getattr(module, conv_name, None), getattr(module, bn_name, None)
            if isinstance(conv, torch.nn.Conv2d) and _is_batchnorm(bn):
                setattr(module, conv_name, _folded(conv, bn))
                setattr(module, bn_name, torch.nn.Identity())
        downsample = getattr(module, "downsample", None)
        if (
            isinstance(downsample, torch.nn.Sequential)
            and len(downsample) == 2
            and _is_batchnorm(downsample[1])
        ):
            module.downsample = torch.nn.Sequential(_folded(downsample[0], downsample[1]))


def _is_batchnorm(module: object) -> bool:
    return isinstance(module, torch.nn.BatchNorm2d | FrozenBatchNorm2d)


def _folded(conv: torch.nn.Conv2d, bn: torch.nn.Module) -> torch.nn.Conv2d:
    weight, bias = fuse_conv_bn_weights(
        conv.weight, conv.bias, bn.running_mean, bn.running_var, bn.eps, bn.weight, bn.bias
    )
    fused = copy.deepcopy(conv)
    fused.weight, fused.bias = weight, bias
    return fused


class MLPHeadOnPooledLayout(torch.nn.Module):
    """torchvision's `TwoMLPHead`, reading `roi_align`'s (K, w, h, C) memory as it lies.

    The head flattens each pooled box in (C, h, w) order; on that memory the flatten is a transposing
    copy (50 MB for 1000 proposals). Permuting fc6's input columns once into (w, h, C) order instead
    gives the same sums over the same products, read in memory order.
    """

    def __init__(self, head: TwoMLPHead, output_size: Sequence[int]):
        super().__init__()
        height, width = (int(s) for s in output_size)
        self.fc6, self.fc7 = copy.deepcopy(head.fc6), head.fc7
        weight = head.fc6.weight.detach()
        channels = weight.shape[1] // (height * width)
        permuted = weight.reshape(-1, channels, height, width).permute(0, 3, 2, 1).reshape(weight.shape)
        self.fc6.weight = torch.nn.Parameter(permuted.contiguous(), requires_grad=False)

    def forward(self, pooled: torch.Tensor) -> torch.Tensor:
        """`pooled` is (K, C, h, w), as for `TwoMLPHead`; any memory layout gives the same result."""
        flat = pooled.permute(0, 3, 2, 1).flatten(1)  # a view on roi_align's memory
        return F.relu(self.fc7(F.relu(self.fc6(flat))))


STAGES = ("body", "fpn", "rpn", "box", "mask")


def _stage_modules(model: torch.nn.Module, stage: str) -> tuple[torch.nn.Module, ...]:
    """The modules whose weights run in `stage` (the box predictor stays float32: small, and it scores)."""
    heads = model.roi_heads
    return {
        "body": (model.backbone.body,),
        "fpn": (model.backbone.fpn,),
        "rpn": (model.rpn.head,),
        "box": (heads.box_head,),
        "mask": (heads.mask_head, heads.mask_predictor),
    }[stage]


def _bf16_stages(precision: Precision, device: torch.device) -> tuple[str, ...]:
    """Which network stages run in bf16.

    Rounding to bf16 costs agreement with fp32 in proportion to the depth it passes through: the
    ResNet body is 50 layers of a residual stream, the FPN and the heads a few layers each. On trained
    models (bench/prelabel.py --weights FILE --synthetic) bf16 everywhere moves 4-19% of the masks below
    IoU 0.95 with fp32's, bf16 everywhere but the body 2-4% (mostly to IoU 0.92-0.95).
    `bf16`: all stages, about 2x faster again on native-bf16 CPUs, lossy.
    `auto`: all but the body, on CPUs with native bf16.
    `fp32`: none, and no folded BatchNorm or channels_last either: torchvision's own arithmetic.
    """
    if precision is Precision.BF16:
        return STAGES
    if precision is Precision.AUTO and device.type == "cpu" and cpu_has_native_bf16():
        return STAGES[1:]
    return ()


def _winograd_stages(
    precision: Precision, device: torch.device, bf16_stages: tuple[str, ...]
) -> tuple[str, ...]:
    """The float32 stages whose stride-1 3x3 convolutions run by Winograd's algorithm (`winograd.py`),
    where it is faster: the FPN, the RPN and the mask head, whose 256-channel convolutions are most of
    the network's work after the body (R50-FPN at 1280x960 with nothing kept: 1.52x -> 1.80x the naive
    loop, bench/prelabel.py). Not the ResNet body: its 3x3 convolutions have fewer channels, and the
    copies to and from NCHW around them cost what they gain (within noise on R50, slower on R18)."""
    if precision is Precision.FP32 or not winograd.speeds_up(device):
        return ()
    return tuple(stage for stage in ("fpn", "rpn", "mask") if stage not in bf16_stages)


def pick_runtime(runtime: Runtime | str, device: torch.device, precision: Precision) -> Runtime:
    """What runs the body, the FPN, the RPN head and the mask head (decision 0021).

    `auto`: OpenVINO where it pays and keeps the detections, that is with `--precision auto` on a CPU
    with native bf16 and the optional `openvino` package installed; torch otherwise (`--precision fp32`
    keeps torchvision's exact arithmetic, `bf16` is torch's whole-network option). `openvino` asks for
    it: it needs the package and a CPU, else one clear line.
    """
    runtime = Runtime(runtime)
    from annotator.inference import openvino_backbone

    if runtime is Runtime.OPENVINO:
        from annotator.io.errors import DatasetError

        if device.type != "cpu":
            raise DatasetError(None, "--runtime openvino runs on the CPU only (use --device cpu)")
        if not openvino_backbone.available():
            raise DatasetError(
                None, "--runtime openvino: the openvino package is not installed (pip install openvino)"
            )
        return runtime
    if (
        runtime is Runtime.AUTO
        and device.type == "cpu"
        and Precision(precision) is Precision.AUTO
        and cpu_has_native_bf16()
        and openvino_backbone.available()
    ):
        return Runtime.OPENVINO
    return Runtime.TORCH


def _openvino_parts(model: torch.nn.Module, precision: str):
    """The OpenVINO graphs of `model` (decision 0021): body, FPN and RPN head in one; the mask head and
    predictor in another, for any number of boxes."""
    from annotator.inference.openvino_backbone import OpenVinoBackbone, OpenVinoMaskHead

    threads = torch.get_num_threads()
    backbone = OpenVinoBackbone(model.backbone, model.rpn.head, precision=precision, threads=threads)
    heads = model.roi_heads
    pooler = heads.mask_roi_pool
    mask_head = OpenVinoMaskHead(
        heads.mask_head,
        heads.mask_predictor,
        tuple(int(s) for s in pooler.output_size),
        model.backbone.out_channels,
        precision=precision,
        threads=threads,
    )
    return backbone, mask_head


def _pick_device(device: Device | str) -> torch.device:
    device = Device(device)
    if device is Device.AUTO:
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device is Device.CUDA and not torch.cuda.is_available():
        from annotator.io.errors import DatasetError

        raise DatasetError(None, "--device cuda: no CUDA device is available (use --device cpu or auto)")
    return torch.device(device.value)
