"""Grad-CAM: the layer is the deepest convolution with a map of at least 6x6, models without one are
skipped, a crop-trained net's map sits on its crop, and the map lights up where the evidence is."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from ferpipe.evaluate import saliency as sal
from ferpipe.labels import CLASSES
from ferpipe.models import create_model
from ferpipe.models.crops import CentreCrop, TenCrop

FACES = np.random.default_rng(0).integers(0, 255, size=(20, 48, 48), dtype=np.uint8)


def _pyramid() -> nn.Module:
    """Convolutions at 48, 24, 12, 6 and 3 pixels a side, then a classifier."""
    layers: list[nn.Module] = [nn.Conv2d(1, 4, 3, padding=1)]
    for _ in range(4):
        layers += [nn.MaxPool2d(2), nn.Conv2d(4, 4, 3, padding=1)]
    return nn.Sequential(*layers, nn.Flatten(), nn.LazyLinear(len(CLASSES)))


def test_the_layer_is_the_deepest_convolution_of_at_least_six_pixels() -> None:
    net = _pyramid()
    found = sal.explainer(net)
    assert found is not None and found.map_side == 6 and found.layer is net[6]
    assert found.describe()["layer"].startswith("6 (Conv2d 4->4, 3x3)")
    for arch in ("simple_cnn", "mini_xception", "hog_cnn"):
        chosen = sal.explainer(create_model(arch))
        assert chosen is not None and chosen.map_side >= sal.MIN_SIDE, arch


def test_models_without_a_convolution_are_skipped() -> None:
    for arch in ("logreg", "hog_svm"):
        assert sal.explainer(create_model(arch)) is None
        summary, pictures = sal.explain_test(create_model(arch), FACES, np.zeros(20, int), np.zeros(20, int))
        assert summary == {"skipped": "no convolutional layer over the face"} and pictures == {}


class _Corner(nn.Module):
    """Class 0's score is the sum of a 1x1 convolution's output: evidence wherever the face is bright."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(1, 1, 1, bias=False)
        nn.init.ones_(self.conv.weight)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        total = torch.relu(self.conv(x)).sum(dim=(1, 2, 3))
        return torch.stack([total, *([torch.zeros_like(total)] * (len(CLASSES) - 1))], dim=1)


def test_the_map_lights_up_where_the_evidence_is() -> None:
    faces = np.zeros((2, 48, 48), dtype=np.uint8)
    faces[:, 4:16, 4:16] = 255  # the only bright patch: top left
    found = sal.explainer(_Corner())
    assert found is not None
    maps = sal.grad_cam(found, faces, np.zeros(2, dtype=int))
    assert maps.shape == (2, 48, 48) and maps.min() >= 0.0 and maps.max() == 1.0
    assert maps[:, 4:16, 4:16].min() > 0.9 and maps[:, 30:, 30:].max() == 0.0


def test_a_crop_trained_net_is_mapped_onto_its_crop_and_ten_crops_are_read_on_the_centre() -> None:
    crop = CentreCrop(_Corner(), 40)
    found = sal.explainer(crop)
    assert found is not None and found.crop == 40
    maps = sal.grad_cam(found, np.full((1, 48, 48), 200, dtype=np.uint8), np.zeros(1, dtype=int))
    assert maps[0, :4].max() == 0.0 and maps[0, 4:44, 4:44].min() > 0.9  # the 4-pixel border is outside the crop
    ten = sal.explainer(TenCrop(_Corner(), 40))
    assert ten is not None and ten.crop == 40 and isinstance(ten.net, CentreCrop)


def test_the_test_summary_counts_the_right_faces_and_draws_two_pictures() -> None:
    labels = np.arange(20) % len(CLASSES)
    predicted = labels.copy()
    predicted[:5] = (labels[:5] + 1) % len(CLASSES)  # five wrong
    summary, pictures = sal.explain_test(create_model("simple_cnn"), FACES, labels, predicted)
    assert sum(summary["faces_per_class"].values()) == 15 and summary["map"][0] >= sal.MIN_SIDE
    assert set(pictures) == {"saliency.png", "saliency_examples.png"}
    assert all(png.startswith(b"\x89PNG") for png in pictures.values())
    again = sal.explain_test(create_model("simple_cnn"), FACES, labels, predicted)[1]
    assert set(again) == set(pictures)
