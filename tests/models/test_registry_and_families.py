"""Every registered model: output shape and one training step; the zoo's special behaviours."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from ferpipe.models import count_parameters, create_model, list_models
from ferpipe.models.crops import ten_crops
from ferpipe.models.layers.hog import HOG
from ferpipe.models.registry import model_option, penalty


def _one_step(model: torch.nn.Module) -> None:
    """Shape check and one SGD step that must change some weights."""
    torch.manual_seed(0)
    x, y = torch.rand(4, 1, 48, 48), torch.tensor([0, 1, 2, 6])
    model.eval()
    with torch.no_grad():
        assert model(x).shape == (4, 7)
    model.train()
    logits = model(x)
    views = model_option(model, "train_views", 1)
    assert logits.shape == (4 * views, 7)
    before = [p.detach().clone() for p in model.parameters()]
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    (F.cross_entropy(logits, y.repeat(views)) + penalty(model)).backward()
    optimizer.step()
    assert any(not torch.equal(a, b) for a, b in zip(before, model.parameters(), strict=True))


@pytest.mark.parametrize("arch", list_models())
def test_model_shape_and_one_step(arch: str) -> None:
    model = create_model(arch)
    assert count_parameters(model) > 0
    _one_step(model)


@pytest.mark.parametrize("variant", range(1, 7))
def test_every_cnn_keras_variant(variant: int) -> None:
    _one_step(create_model("cnn_keras", variant=variant))


def test_cnn_keras_variants_differ_as_the_study_says() -> None:
    sizes = {v: count_parameters(create_model("cnn_keras", variant=v)) for v in range(1, 7)}
    assert sizes[3] > 2 * sizes[1]  # doubled filters
    assert sizes[4] > sizes[1]  # 5x5 kernels
    assert sizes[6] < sizes[1]  # 'valid' convs shrink the dense layer's input
    with pytest.raises(ValueError, match=r"variant must be 1\.\.6"):
        create_model("cnn_keras", variant=7)


def test_mini_xception_is_about_58k_parameters() -> None:
    assert 50_000 < count_parameters(create_model("mini_xception")) < 65_000


def test_timm_models_upsample_to_their_input_size() -> None:
    model = create_model("resnet18", image_size=64).eval()
    seen = []
    model[1].net.conv1.register_forward_hook(lambda m, i, o: seen.append(i[0].shape[-1]))
    with torch.no_grad():
        model(torch.rand(1, 1, 48, 48))
    assert seen == [64]


def test_vgg_fer_trains_on_ten_crops_and_averages_them_in_evaluation() -> None:
    model = create_model("vgg_fer")
    ten_crop = model[1]
    x = torch.rand(2, 1, 48, 48)
    crops = ten_crops(x, ten_crop.crop)
    assert crops.shape == (20, 1, 40, 40)
    assert torch.equal(crops[2 * 5], crops[0].flip(-1))  # the mirror of the first corner crop
    model.eval()
    with torch.no_grad():
        expected = ten_crop.net(crops).view(10, 2, 7).mean(0)
        assert torch.allclose(model[1](x), expected, atol=1e-5)


def test_vgg_fer_without_ten_crop_sees_one_whole_image() -> None:
    model = create_model("vgg_fer", ten_crop=False)
    assert model_option(model, "train_views", 1) == 1
    assert model.train()(torch.rand(3, 1, 48, 48)).shape == (3, 7)


def test_xception_reg_penalises_its_classifier() -> None:
    model = create_model("xception_reg", middle=1)
    weight = model[1].classifier.weight
    assert penalty(model).item() == pytest.approx(0.01 * weight.pow(2).sum().item(), rel=1e-5)
    assert penalty(create_model("simple_cnn")) == 0.0


def test_hog_svm_uses_the_hinge_loss() -> None:
    assert model_option(create_model("hog_svm"), "criterion", "cross_entropy") == "hinge"
    assert model_option(create_model("simple_cnn"), "criterion", "cross_entropy") == "cross_entropy"


def test_hog_describes_edge_orientation() -> None:
    hog = HOG()
    assert hog.out_features == 9 * 4 * 25
    vertical = torch.zeros(1, 1, 48, 48)
    vertical[..., 24:] = 1.0  # a vertical edge: horizontal gradient, orientation 0
    horizontal = vertical.transpose(-1, -2)  # orientation pi/2
    a, b = hog(vertical).view(25, 9, 4), hog(horizontal).view(25, 9, 4)  # (block, bin, cell)
    assert set(a.sum(dim=(0, 2)).topk(2).indices.tolist()) == {0, 8}  # 0 rad sits between bins 8 and 0
    assert b.sum(dim=(0, 2)).argmax().item() == 4
    # block normalisation: contrast does not matter
    assert torch.allclose(hog(vertical * 0.5), a.flatten().unsqueeze(0), atol=1e-4)
    assert math.isclose(hog(torch.rand(2, 1, 48, 48)).view(2, 25, 36).norm(dim=2).mean().item(), 1.0, rel_tol=1e-3)


def test_hog_agrees_with_scikit_images_hog_on_faces() -> None:
    """The same descriptor as skimage.feature.hog (9 bins, 8x8 cells, 2x2 blocks, L2-Hys), in our
    layout (block, bin, cell) rather than its (block, cell, bin). Ours votes into the two nearest
    bins (Dalal and Triggs' interpolation), scikit-image into one, so they correlate, not match:
    a mirrored image or a wrong layout falls to a correlation of 0.5 or 0."""
    from skimage.feature import hog

    from ferpipe.sources.faces import RenderOptions, render_faces

    faces = render_faces(np.random.default_rng(0), np.arange(40) % 7, RenderOptions(size=48)).astype(np.float32) / 255
    ours = HOG()(torch.from_numpy(faces)[:, None]).numpy().reshape(40, 5, 5, 9, 2, 2).transpose(0, 1, 2, 4, 5, 3)
    reference = np.stack(
        [hog(f, orientations=9, pixels_per_cell=(8, 8), cells_per_block=(2, 2), block_norm="L2-Hys") for f in faces]
    )
    assert reference.shape == (40, HOG().out_features)
    correlation = [np.corrcoef(a, b)[0, 1] for a, b in zip(ours.reshape(40, -1), reference, strict=True)]
    assert min(correlation) > 0.8 and np.mean(correlation) > 0.9


def test_unknown_model_lists_the_zoo() -> None:
    with pytest.raises(ValueError, match=r"choose one of .*simple_cnn"):
        create_model("resnet9000")


def test_the_xception_skip_is_a_strided_1x1_convolution_with_the_same_weights_and_keys() -> None:
    """Computed as subsample + 1x1 (channels-last safe on CPU), it is the 1x1 stride-2 convolution
    models saved before it used: same output, same state-dict keys, so they load and answer alike."""
    from ferpipe.models.layers.xception import StridedPointwise

    torch.manual_seed(0)
    conv = StridedPointwise(8, 16)
    for size in (24, 23):  # odd sizes round up alike
        x = torch.rand(3, 8, size, size)
        assert torch.allclose(conv(x), torch.nn.functional.conv2d(x, conv.weight, stride=2), atol=1e-6)
    assert list(StridedPointwise(8, 16).state_dict()) == list(torch.nn.Conv2d(8, 16, 1, 2, bias=False).state_dict())
    keys = create_model("mini_xception").state_dict().keys()
    assert {"1.features.6.skip.0.weight", "1.features.6.skip.1.running_mean"} <= set(keys)
