"""Every registered model: output shape and one training step."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from ferpipe.models import count_parameters, create_model, list_models


@pytest.mark.parametrize("arch", list_models())
def test_model_shape_and_one_step(arch: str) -> None:
    torch.manual_seed(0)
    model = create_model(arch)
    x, y = torch.rand(4, 1, 48, 48), torch.tensor([0, 1, 2, 6])
    logits = model(x)
    assert logits.shape == (4, 7)
    before = [p.detach().clone() for p in model.parameters()]
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    F.cross_entropy(logits, y).backward()
    optimizer.step()
    assert any(not torch.equal(a, b) for a, b in zip(before, model.parameters(), strict=True))
    assert count_parameters(model) > 0


def test_unknown_model_lists_the_zoo() -> None:
    with pytest.raises(ValueError, match=r"registered: .*simple_cnn"):
        create_model("resnet9000")
