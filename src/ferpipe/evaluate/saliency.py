"""Where a model looks: Grad-CAM maps (Selvaraju et al. 2017) of convolutional models, per class and
per face, drawn over the faces.

Computed with captum's ``LayerGradCam``: PyTorch's own attribution library, one pure-Python wheel
that needs nothing ferpipe does not already install (the ``grad-cam`` package would add OpenCV's
full build, ttach and more for the same map).

The layer: the deepest convolution whose output is still at least ``MIN_SIDE`` pixels on a side.
On 48x48 faces the last convolutions of most nets are 3x3 or smaller (their Grad-CAM is a few
blocks, useless for telling the eyes from the mouth); one stride stage earlier the map is 6x6 to
12x12. Models without a convolution (logreg, hog_svm) have no map and are listed as skipped.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn

from ferpipe.device import to_input
from ferpipe.evaluate.plots import png_bytes, pyplot
from ferpipe.labels import CLASSES
from ferpipe.models.crops import CentreCrop, TenCrop

MIN_SIDE = 6
PER_CLASS = 100  # faces per class averaged into its mean map (the first correctly classified ones)
EXAMPLES = 3  # correct and wrong faces per class in the examples grid
ALPHA = 0.45  # how much of the heat map covers the face in an overlay


@dataclass(frozen=True)
class Explainer:
    """A single-view net (48x48 faces in, logits out), the convolution Grad-CAM reads, and where the
    net's input sits in the face (a crop-trained net sees the centre ``crop`` x ``crop``)."""

    net: nn.Module
    layer: nn.Conv2d
    layer_name: str
    map_side: int
    crop: int | None

    def describe(self) -> dict[str, Any]:
        conv = self.layer
        shape = f"Conv2d {conv.in_channels}->{conv.out_channels}, {'x'.join(map(str, conv.kernel_size))}"
        return {"layer": f"{self.layer_name} ({shape})", "map": [self.map_side, self.map_side], "method": "Grad-CAM"}


def single_view(model: nn.Module) -> nn.Module:
    """The model as one forward pass per face: a ten-crop net (vgg_fer) is read on its centre crop."""
    ten = next((m for m in model.modules() if isinstance(m, TenCrop)), None)
    return CentreCrop(ten.net, ten.crop).eval() if ten is not None else model.eval()


def explainer(model: nn.Module, side: int = 48) -> Explainer | None:
    """The Grad-CAM set-up for ``model`` (loaded without test-time views), or None when it has no
    convolution over the face."""
    net = single_view(model)
    shapes: dict[str, tuple[int, ...]] = {}
    names = {module: name for name, module in net.named_modules() if isinstance(module, nn.Conv2d)}

    def record(module: nn.Module, _inputs: Any, out: torch.Tensor) -> None:
        shapes.setdefault(names[module], tuple(out.shape[-2:]))

    hooks = [module.register_forward_hook(record) for module in names]
    try:
        with torch.no_grad():
            net(torch.zeros(1, 1, side, side))
    finally:
        for hook in hooks:
            hook.remove()
    ran = [name for name in names.values() if name in shapes]  # in the order the forward pass reached them
    if not ran:
        return None
    wide = [name for name in ran if min(shapes[name]) >= MIN_SIDE] or ran[:1]
    chosen = wide[-1]
    layer = dict(net.named_modules())[chosen]
    crop = next((m.crop for m in net.modules() if isinstance(m, CentreCrop)), None)
    return Explainer(net, layer, chosen, int(min(shapes[chosen])), crop)


def grad_cam(found: Explainer, images: np.ndarray, targets: np.ndarray, batch_size: int = 64) -> np.ndarray:
    """(n, h, w) maps in [0, 1], each scaled by its own maximum, for class ``targets[i]`` of face i."""
    from captum.attr import LayerAttribution, LayerGradCam

    side = images.shape[-1]
    inner = found.crop or side
    cam = LayerGradCam(found.net, found.layer)
    maps = []
    for start in range(0, len(images), batch_size):
        batch = to_input(images[start : start + batch_size], torch.device("cpu"))
        target = torch.as_tensor(targets[start : start + batch_size], dtype=torch.long)
        with torch.enable_grad():
            attribution = cam.attribute(batch, target=target, relu_attributions=True)
        maps.append(LayerAttribution.interpolate(attribution.detach(), (inner, inner), "bilinear")[:, 0].numpy())
    if not maps:
        return np.zeros((0, side, side), dtype=np.float32)
    stacked = np.concatenate(maps)
    peak = stacked.reshape(len(stacked), -1).max(axis=1)
    stacked = stacked / np.where(peak > 0, peak, 1.0)[:, None, None]
    pad = (side - inner) // 2
    return np.pad(stacked, ((0, 0), (pad, side - inner - pad), (pad, side - inner - pad))).astype(np.float32)


def overlay(face: np.ndarray, heat: np.ndarray) -> np.ndarray:
    """A grey face (h, w) under its map (h, w, in [0, 1]) in the jet colours, as RGB uint8."""
    from matplotlib import colormaps

    grey = np.repeat(face[..., None].astype(np.float32) / 255.0, 3, axis=2)
    colour = colormaps["jet"](np.clip(heat, 0.0, 1.0))[..., :3]
    return (255 * ((1 - ALPHA) * grey + ALPHA * colour)).round().astype(np.uint8)


def explain_test(
    model: nn.Module, images: np.ndarray, labels: np.ndarray, predicted: np.ndarray
) -> tuple[dict[str, Any], dict[str, bytes]]:
    """The Grad-CAM summary of a model on the test faces and its two pictures (PNG bytes by file name):
    each class's mean map over up to ``PER_CLASS`` correctly classified faces, and a grid of correct
    and wrong faces (a wrong face's map is for the class the model chose). A model without a
    convolution gets ``{"skipped": why}`` and no pictures."""
    found = explainer(model, images.shape[-1])
    if found is None:
        return {"skipped": "no convolutional layer over the face"}, {}
    picks = {c: np.flatnonzero((labels == c) & (predicted == c))[:PER_CLASS] for c in range(len(CLASSES))}
    chosen = np.concatenate(list(picks.values()))
    maps = grad_cam(found, images[chosen], labels[chosen])
    means, counts, start = {}, {}, 0
    for c, index in picks.items():
        counts[CLASSES[c]] = len(index)
        if len(index):
            means[c] = (images[index].mean(axis=0), maps[start : start + len(index)].mean(axis=0))
        start += len(index)
    summary = found.describe() | {"faces_per_class": counts}
    return summary, {
        "saliency.png": _means_png(means),
        "saliency_examples.png": _examples_png(found, images, labels, predicted),
    }


def _means_png(means: dict[int, tuple[np.ndarray, np.ndarray]]) -> bytes:
    fig, axes = pyplot().subplots(1, len(CLASSES), figsize=(1.6 * len(CLASSES), 2.0))
    for c, ax in enumerate(axes):
        ax.axis("off")
        if c in means:
            face, heat = means[c]
            ax.imshow(overlay(face.round().astype(np.uint8), heat / max(float(heat.max()), 1e-6)))
        ax.set_title(CLASSES[c] if c in means else f"{CLASSES[c]}\n(none right)", fontsize=9)
    fig.suptitle("Mean Grad-CAM over correctly classified test faces", fontsize=10)
    fig.tight_layout()
    return png_bytes(fig)


def _examples_png(found: Explainer, images: np.ndarray, labels: np.ndarray, predicted: np.ndarray) -> bytes:
    rows = []
    for c in range(len(CLASSES)):
        right = np.flatnonzero((labels == c) & (predicted == c))[:EXAMPLES]
        wrong = np.flatnonzero((labels == c) & (predicted != c))[:EXAMPLES]
        rows.append([*right, *([-1] * (EXAMPLES - len(right))), *wrong, *([-1] * (EXAMPLES - len(wrong)))])
    grid = np.array(rows)
    shown = grid[grid >= 0]
    maps = dict(zip(shown.tolist(), grad_cam(found, images[shown], predicted[shown]), strict=True))
    fig, axes = pyplot().subplots(len(CLASSES), 2 * EXAMPLES, figsize=(2 * EXAMPLES * 1.25, len(CLASSES) * 1.4))
    for (r, k), ax in np.ndenumerate(axes):
        ax.axis("off")
        i = int(grid[r, k])
        if i >= 0:
            ax.imshow(overlay(images[i], maps[i]))
            verdict = "right" if k < EXAMPLES else f"as {CLASSES[predicted[i]]}"
            ax.set_title(f"{CLASSES[labels[i]]}: {verdict}", fontsize=7)
    fig.suptitle("Grad-CAM on test faces: right (left half), wrong (right half)", fontsize=9)
    fig.tight_layout()
    return png_bytes(fig)
