"""Knowledge distillation: the loss, the loop's use of a teacher, and the params that name students."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from ferpipe.config import load_yaml
from ferpipe.data.dataset import Split
from ferpipe.models.inference import predict_logits
from ferpipe.schema import ParamsError, validate_params
from ferpipe.train.loop import fit
from ferpipe.train.soft_targets import Teacher, distillation_loss
from tests.conftest import REPO
from tests.train.test_loop import _cfg, _faces, _small_cnn

CPU = torch.device("cpu")


def test_the_loss_is_zero_when_the_student_agrees_and_is_kl_times_t_squared() -> None:
    logits = torch.tensor([[2.0, 0.5, -1.0], [0.0, 1.0, 3.0]])
    probs = F.softmax(logits, dim=1)
    assert distillation_loss(logits, probs, 3.0).item() == pytest.approx(0.0, abs=1e-6)
    teacher = torch.tensor([[0.7, 0.2, 0.1], [0.1, 0.1, 0.8]])
    t = 2.0
    soft = F.softmax(torch.log(teacher) / t, dim=1)
    by_hand = (soft * (soft.log() - F.log_softmax(logits / t, dim=1))).sum(1).mean() * t * t
    assert distillation_loss(logits, teacher, t).item() == pytest.approx(by_hand.item(), rel=1e-5)


def test_a_teacher_of_one_hot_labels_at_temperature_one_trains_as_the_labels_do() -> None:
    """KL(one-hot || student) is the cross-entropy: alpha 1 and T 1 must train like the labels alone."""
    train, val = _faces(0, 96), _faces(1, 32)
    alone, taught = _small_cnn(), _small_cnn()
    fit(alone, train, val, _cfg(epochs=2), device=CPU)
    one_hot = np.eye(7, dtype=np.float32)[train.labels]
    fit(taught, train, val, _cfg(epochs=2), device=CPU, teacher=Teacher(one_hot, alpha=1.0, temperature=1.0))
    assert np.allclose(predict_logits(alone, val.images), predict_logits(taught, val.images), atol=1e-3)


def test_the_student_follows_its_teacher_over_the_labels() -> None:
    """A teacher that always names another class than the label: with alpha 1 the student learns the teacher."""
    train, val = _faces(0, 256), _faces(1, 128)
    swap = {3: 5, 5: 3}  # happy <-> surprised
    other = np.vectorize(swap.get)(train.labels)
    teacher = Teacher(np.eye(7, dtype=np.float32)[other], alpha=1.0, temperature=1.0)
    student = _small_cnn()
    val = Split(val.images, np.vectorize(swap.get)(val.labels))  # the best epoch: the one that agrees with the teacher
    fit(student, train, val, _cfg(epochs=6, patience=10), device=CPU, teacher=teacher)
    predicted = predict_logits(student, train.images).argmax(1)
    assert (predicted == other).mean() > 0.75 and (predicted == train.labels).mean() < 0.25


def test_a_teacher_must_fit_the_run() -> None:
    train, val = _faces(0, 64), _faces(1, 32)
    short = Teacher(np.full((10, 7), 1 / 7, dtype=np.float32), alpha=0.5, temperature=2.0)
    with pytest.raises(ValueError, match="the teacher scored 10 images, the training split has 64"):
        fit(_small_cnn(), train, val, _cfg(epochs=1), device=CPU, teacher=short)
    fitting = Teacher(np.full((64, 7), 1 / 7, dtype=np.float32), alpha=0.5, temperature=2.0)
    with pytest.raises(ValueError, match="no mixup or cutmix"):
        fit(_small_cnn(), train, val, _cfg(epochs=1, mixup=0.2), device=CPU, teacher=fitting)
    with pytest.raises(ValueError, match="finite"):
        Teacher(np.full((4, 7), np.nan, dtype=np.float32), alpha=0.5, temperature=2.0)


def _with(change) -> dict:
    params = copy.deepcopy(load_yaml(REPO / "params.yaml"))
    change(params)
    return params


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda p: p["distill"]["cnn_distilled"].update(recipe="vgg"), r"distill\.cnn_distilled\.recipe: 'vgg' is not"),
        (lambda p: p["distill"].update(cnn=p["distill"].pop("cnn_distilled")), r"distill\.cnn: 'cnn' is a model's"),
        (lambda p: p["distill"]["cnn_distilled"].update(teacher="vote"), r"teacher: Input should be 'average' or"),
        (lambda p: p["distill"]["cnn_distilled"].update(alpha=0.0), r"alpha: Input should be greater than 0"),
        (lambda p: p["models"]["cnn"].update(mixup=0.2), r"distill\.cnn_distilled: its recipe 'cnn' uses mixup"),
        (lambda p: p["train"].update(cutmix=1.0), r"distill\.cnn_distilled: its recipe 'cnn' uses cutmix"),
    ],
)
def test_a_student_that_cannot_be_taught_is_refused_in_one_line(change, message) -> None:
    with pytest.raises(ParamsError, match=message):
        validate_params(_with(change))


def test_no_students_is_a_pipeline_without_distillation() -> None:
    validate_params(_with(lambda p: p.update(distill={})))
