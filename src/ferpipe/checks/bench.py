"""``ferpipe bench``: ferpipe's training data path against the usual way, and its training loop
against a plain PyTorch step.

The usual way decodes and augments one image at a time in DataLoader workers: torchvision's
ImageFolder with PIL transforms over PNG files, or albumentations over an in-memory array.
ferpipe keeps the training set as one memory-mapped uint8 tensor and warps whole batches
with tensor ops (``train.augment``), on the GPU when there is one. The training loop timed is
the real one (``train.loop.fit``: augmentation, the model's own loss, progress, signal checks),
against forward, the same loss, backward and optimizer step on one fixed batch. Every figure
comes from the same run on the same machine, so the ratios compare like with like; the training
figures are medians over repeats with their quartiles (the plain step timed by
``torch.utils.benchmark``, the loop over several epochs), since one timing on a shared machine
moves by a tenth from run to run.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import io
import math
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

from ferpipe.data.dataset import IMAGES, Split, load_split
from ferpipe.device import autocast_dtype, placed, to_input
from ferpipe.labels import CLASSES
from ferpipe.models.registry import model_option, penalty
from ferpipe.train.augment import AugmentConfig, random_affine, warp
from ferpipe.train.config import TrainConfig

if TYPE_CHECKING:
    from ferpipe.schema import Model, Training
from ferpipe.train.loop import fit
from ferpipe.train.optim import build_optimizer

MIN_BLOCKS = 3  # timed blocks of the plain step at least, whatever --seconds allows


@dataclass(frozen=True)
class Throughput:
    """Images per second of one way of producing (or training on) batches: the median over repeats,
    with the rates at the slower and the faster quartile where there were repeats."""

    name: str
    images_per_second: float
    detail: str = ""
    quartiles: tuple[float, float] | None = None
    repeats: int = 1

    @classmethod
    def of_rates(cls, name: str, rates: Sequence[float], detail: str = "") -> Throughput:
        low, median, high = np.percentile(np.asarray(rates, dtype=np.float64), [25, 50, 75])
        return cls(name, float(median), detail, (float(low), float(high)), len(rates))

    def cell(self) -> str:
        """``1,474 (1,430-1,502)``: the median and its quartiles."""
        if self.quartiles is None:
            return f"{self.images_per_second:,.0f}"
        return f"{self.images_per_second:,.0f} ({self.quartiles[0]:,.0f}-{self.quartiles[1]:,.0f})"


def time_batches(batches: Iterable[Any], n_batches: int, batch_size: int, device: torch.device) -> float:
    """Images per second over ``n_batches``, after two warm-up batches (worker start-up excluded)."""
    iterator = iter(batches)
    return n_batches * batch_size / _timed(lambda: next(iterator), n_batches, device)


def _endless(loader: DataLoader) -> Iterable[Any]:
    while True:
        yield from loader


class _AlbumentationsSet(Dataset):
    """Per-sample albumentations over an in-memory array: the usual notebook data path."""

    def __init__(self, images: np.ndarray, labels: np.ndarray, cfg: AugmentConfig) -> None:
        import albumentations as A

        self.images, self.labels = images, labels
        self.transform = A.Compose(
            [
                A.HorizontalFlip(p=0.5 if cfg.flip else 0.0),
                A.Affine(
                    rotate=(-cfg.max_rotation_deg, cfg.max_rotation_deg),
                    translate_percent=(-cfg.max_shift, cfg.max_shift),
                    scale=cfg.scale_range,
                    border_mode=1,  # cv2.BORDER_REPLICATE, as the batch warp's border padding
                    p=1.0,
                ),
            ]
        )

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, int]:
        image = self.transform(image=np.asarray(self.images[i]))["image"]
        return torch.from_numpy(image).unsqueeze(0).float().div_(255.0), int(self.labels[i])


def _image_folder(images: np.ndarray, labels: np.ndarray, folder: Path) -> None:
    """Write images as PNG files in ImageFolder's class-per-folder layout."""
    from PIL import Image

    for i, (image, label) in enumerate(zip(images, labels, strict=True)):
        target = folder / CLASSES[label]
        target.mkdir(parents=True, exist_ok=True)
        Image.fromarray(np.asarray(image)).save(target / f"{i:06d}.png")


def _torchvision_loader(folder: Path, cfg: AugmentConfig, batch_size: int, workers: int) -> DataLoader:
    from torchvision import datasets, transforms

    transform = transforms.Compose(
        [
            transforms.Grayscale(),
            transforms.RandomHorizontalFlip(0.5 if cfg.flip else 0.0),
            transforms.RandomAffine(cfg.max_rotation_deg, (cfg.max_shift, cfg.max_shift), cfg.scale_range),
            transforms.ToTensor(),
        ]
    )
    dataset = datasets.ImageFolder(str(folder), transform=transform)
    return DataLoader(dataset, batch_size, shuffle=True, num_workers=workers, drop_last=True)


def ferpipe_batches(
    images: torch.Tensor, labels: torch.Tensor, cfg: AugmentConfig, batch_size: int, device: torch.device
) -> Iterable[tuple[torch.Tensor, torch.Tensor]]:
    """The training loop's data path: shuffled indices into the uint8 tensor, one batch warp."""
    generator = torch.Generator().manual_seed(0)
    while True:
        order = torch.randperm(len(labels), generator=generator)
        for start in range(0, len(order) - batch_size + 1, batch_size):
            index = order[start : start + batch_size]
            x = warp(to_input(images.index_select(0, index), device), random_affine(len(index), cfg, generator))
            yield x, labels.index_select(0, index).to(device)


def data_path_figures(
    images: np.ndarray,
    labels: np.ndarray,
    cfg: AugmentConfig,
    batch_size: int,
    n_batches: int,
    workers: int,
    device: torch.device,
) -> list[Throughput]:
    """The two usual loaders and ferpipe's path, each timed over ``n_batches`` batches."""
    needed = (n_batches + 2) * batch_size
    sample = np.ascontiguousarray(images[:needed]), labels[:needed]
    figures = []
    with tempfile.TemporaryDirectory() as tmp:
        _image_folder(*sample, Path(tmp))
        loader = _torchvision_loader(Path(tmp), cfg, batch_size, workers)
        figures.append(
            Throughput(
                "torchvision ImageFolder + PIL",
                time_batches(_endless(loader), n_batches, batch_size, torch.device("cpu")),
                f"{workers} DataLoader workers, PNG files",
            )
        )
    loader = DataLoader(_AlbumentationsSet(*sample, cfg), batch_size, shuffle=True, num_workers=workers, drop_last=True)
    figures.append(
        Throughput(
            "albumentations per sample",
            time_batches(_endless(loader), n_batches, batch_size, torch.device("cpu")),
            f"{workers} DataLoader workers, in-memory array",
        )
    )
    tensor, targets = torch.from_numpy(images), torch.from_numpy(labels)
    batches = ferpipe_batches(tensor, targets, cfg, batch_size, device)
    figures.append(
        Throughput(
            "ferpipe batch path",
            time_batches(batches, n_batches, batch_size, device),
            f"memory-mapped uint8, batch warp on {device.type}, main process",
        )
    )
    return figures


def plain_step_figure(
    name: str, model: torch.nn.Module, cfg: TrainConfig, batch: torch.Tensor, targets: torch.Tensor, seconds: float
) -> Throughput:
    """The plain way: forward, the model's own loss (cross-entropy, or hinge for a linear SVM), backward
    and optimizer step on one fixed batch, in the layout and autocast precision the real loop uses on
    this device (the ratio is then the loop's cost, not a cheaper loss's). Timed by
    ``torch.utils.benchmark`` for at least ``seconds``, in blocks: the median block and its quartiles."""
    from torch.utils.benchmark import Timer

    device = batch.device
    dtype = autocast_dtype(cfg.amp, device)
    placed(model, device, cfg.channels_last).train()
    optimizer = build_optimizer(model.parameters(), cfg.optimizer, cfg.lr, cfg.weight_decay, cfg.momentum, True)
    views = model_option(model, "train_views", 1)
    target = targets.repeat(views)
    hinge = model_option(model, "criterion", "cross_entropy") == "hinge"
    loss_of = torch.nn.functional.multi_margin_loss if hinge else torch.nn.functional.cross_entropy

    def step() -> None:
        with torch.autocast(device.type, dtype=dtype or torch.float32, enabled=dtype is not None):
            logits = model(batch)
        loss = loss_of(logits.float(), target) + penalty(model)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()

    step()  # the first call pays one-time set-up (kernels chosen, buffers allocated)
    timer = Timer(stmt="step()", globals={"step": step}, num_threads=torch.get_num_threads())
    measured = timer.blocked_autorange(min_run_time=seconds)
    times = list(measured.times)  # seconds per step, one per block
    while len(times) < MIN_BLOCKS:  # a step slower than ``seconds`` still gets quartiles
        times += timer.timeit(measured.number_per_run).times
    precision = "fp32" if dtype is None else str(dtype).removeprefix("torch.")
    return Throughput.of_rates(name, [len(batch) / t for t in times], f"{cfg.batch_size} per batch, {precision}")


def real_loop_figure(
    name: str,
    model: torch.nn.Module,
    cfg: TrainConfig,
    images: np.ndarray,
    labels: np.ndarray,
    steps: int,
    repeats: int,
) -> Throughput:
    """ferpipe's own loop (``fit``) over ``steps`` batches for ``repeats`` + 1 epochs; the rates of all
    but the first (which pays one-time set-up, as the plain step's first call does)."""
    n = steps * cfg.batch_size
    train, val = Split(images[:n], labels[:n]), Split(images[: cfg.batch_size], labels[: cfg.batch_size])
    run = dataclasses.replace(
        cfg, epochs=repeats + 1, epochs_scale=1.0, patience=repeats + 1, schedule={"name": "none"}
    )
    with contextlib.redirect_stdout(io.StringIO()):  # fit's epoch lines: the table says it all
        result = fit(model, train, val, run)
    augment = "batch augmentation" if cfg.augment.enabled else "no augmentation"
    rates = [row["images_per_second"] for row in result.history[1:]]
    return Throughput.of_rates(name, rates, f"{augment}, {model_option(model, 'criterion', 'cross_entropy')}")


def _timed(fn: Callable[[], Any], repeats: int, device: torch.device, warmup: int = 2) -> float:
    """Seconds for ``repeats`` calls after ``warmup`` calls, waiting for the GPU where there is one."""
    for _ in range(warmup):
        fn()
    if device.type == "cuda":
        torch.cuda.synchronize()
    begin = time.perf_counter()
    for _ in range(repeats):
        fn()
    if device.type == "cuda":
        torch.cuda.synchronize()
    return time.perf_counter() - begin


def noop_repro_seconds(root: Path) -> float | None:
    """Seconds ``dvc repro`` takes when nothing changed; None when something would rerun."""
    from ferpipe.checks.stale import stale_stages

    try:
        if not (root / "dvc.lock").exists() or stale_stages(root):
            return None
    except RuntimeError:  # DVC cannot even plan the run (an output it needs is missing)
        return None
    begin = time.perf_counter()
    subprocess.run(["dvc", "repro"], cwd=root, check=True, capture_output=True)
    return time.perf_counter() - begin


def _seeded_model(arch: str, args: dict[str, Any]) -> torch.nn.Module:
    """A fresh model with the same initial weights every call."""
    from ferpipe.models import create_model

    torch.manual_seed(0)
    return create_model(arch, **args)


def ratio(a: float, b: float) -> str:
    return f"{a / b:.1f}x" if b > 0 and math.isfinite(a) else "-"


def load_training_images(path: Path | None, n: int) -> tuple[np.ndarray, np.ndarray, str]:
    """The training split of a dataset folder (memory-mapped), or random faces-sized noise without it."""
    if path is not None and (path / IMAGES).exists():
        train = load_split(path, "train")
        return train.images, train.labels, f"{path} ({len(train)} training images, memory-mapped)"
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (n, 48, 48), dtype=np.uint8)
    return images, rng.integers(0, len(CLASSES), n), f"{n} random 48x48 images (no {path})"


def share_of_step(data: Throughput, step: Throughput) -> float:
    """The data path's share of one training step: its time over data plus step time."""
    data_time, step_time = 1 / data.images_per_second, 1 / step.images_per_second
    return data_time / (data_time + step_time)


@dataclass(frozen=True)
class ModelFigures:
    """One model's training rates: the plain step, ferpipe's loop, the data path's share, and the
    plain step in fp32 and the default layout (what bf16 autocast and channels-last buy)."""

    plain: Throughput
    loop: Throughput
    data_share: float
    fp32: Throughput

    @property
    def loop_vs_plain(self) -> float:
        return self.loop.images_per_second / self.plain.images_per_second

    def ratio_cell(self) -> str:
        """``1.01 (0.95-1.07)``: the ratio of the medians, and from the loop's slow quartile over the
        plain step's fast one to the other way round."""
        if self.loop.quartiles is None or self.plain.quartiles is None:
            return f"{self.loop_vs_plain:.2f}"
        low = self.loop.quartiles[0] / self.plain.quartiles[1]
        high = self.loop.quartiles[1] / self.plain.quartiles[0]
        return f"{self.loop_vs_plain:.2f} ({low:.2f}-{high:.2f})"


def model_rows(
    models: Sequence[tuple[str, Callable[[], torch.nn.Module], TrainConfig]],
    data: Throughput,
    images: np.ndarray,
    labels: np.ndarray,
    options: BenchOptions,
    device: torch.device,
) -> list[ModelFigures]:
    """Each model: the plain step and ferpipe's loop (each on a fresh copy of the model, same seed)."""
    rows = []
    for name, build, cfg in models:
        batch = to_input(torch.randint(0, 256, (cfg.batch_size, 48, 48), dtype=torch.uint8), device)
        targets = torch.randint(0, len(CLASSES), (cfg.batch_size,), device=device)
        plain = plain_step_figure(name, build(), cfg, batch, targets, options.seconds)
        loop = real_loop_figure(name, build(), cfg, images, labels, options.steps, options.repeats)
        fp32_cfg = dataclasses.replace(cfg, amp="none", channels_last=False)
        fp32 = plain_step_figure(name, build(), fp32_cfg, batch, targets, options.seconds)
        rows.append(ModelFigures(plain, loop, share_of_step(data, plain), fp32))
    return rows


@dataclass(frozen=True)
class BenchOptions:
    """What ``ferpipe bench`` measures and how long."""

    models: Sequence[str] = ()  # names under params' models; empty: all of them
    batches: int = 100
    steps: int = 40  # batches per epoch of ferpipe's loop
    repeats: int = 5  # loop epochs timed (after one untimed)
    seconds: float = 3.0  # at least this long timing each plain step
    batch_size: int = 64
    workers: int = 2
    data: Path = Path("data/balanced")
    repro: bool = True


def run_bench(root: Path, models: Mapping[str, Model], defaults: Training, options: BenchOptions) -> str:
    """Measure everything (the ``models`` of params over their ``train`` ``defaults``) and return the
    report: two tables and the goals."""
    from ferpipe.tables import render

    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    unknown = sorted(set(options.models) - set(models))
    if unknown:
        raise ValueError(f"params: no model {', '.join(unknown)} under 'models' (have: {', '.join(models)})")
    chosen = []
    for name in options.models or list(models):
        build = functools.partial(_seeded_model, models[name].arch, dict(models[name].args))
        chosen.append((name, build, TrainConfig.of(defaults, models[name])))
    augment = TrainConfig.of(defaults).augment
    needed = max([(options.batches + 2) * options.batch_size] + [options.steps * cfg.batch_size for *_, cfg in chosen])
    images, labels, described = load_training_images(root / options.data, needed)
    figures = data_path_figures(images, labels, augment, options.batch_size, options.batches, options.workers, device)
    *baselines, ours = figures
    slowest_ratio = min(ours.images_per_second / b.images_per_second for b in baselines)
    rows = [
        (f.name, f"{f.images_per_second:,.0f}", ratio(ours.images_per_second, f.images_per_second), f.detail)
        for f in figures
    ]
    text = render(
        f"data path: {options.batches} batches of {options.batch_size}, {described}, {device}",
        [("loader", "left"), ("images/s", "right"), ("ferpipe is", "right"), ("how", "left")],
        rows,
    )

    model_figures = model_rows(chosen, ours, images, labels, options, device)
    text += render(
        f"training on {device}, {torch.get_num_threads()} threads: a plain PyTorch step (forward, the model's loss,"
        f" backward, optimizer on one fixed batch; first in fp32 and the default layout, then in the precision"
        f" and layout ferpipe trains in, timed by torch.utils.benchmark for {options.seconds:g} s) against"
        f" ferpipe's training loop ({options.repeats} epochs of {options.steps} batches after one untimed);"
        " medians with their quartiles",
        [
            ("model", "left"),
            ("fp32 plain img/s", "right"),
            ("plain step img/s", "right"),
            ("ferpipe loop img/s", "right"),
            ("loop vs plain", "right"),
            ("data path share", "right"),
            ("loop runs", "left"),
        ],
        [
            (
                f.plain.name,
                f.fp32.cell(),
                f.plain.cell(),
                f.loop.cell(),
                f.ratio_cell(),
                f"{f.data_share:.1%}",
                f"{f.plain.detail}, {f.loop.detail}",
            )
            for f in model_figures
        ],
    )

    goals = [f"data path vs the faster usual loader: {slowest_ratio:.1f}x (goal: at least 10x)"]
    if model_figures:
        slowest = min(model_figures, key=lambda f: f.loop_vs_plain)
        goals.append(
            f"slowest loop vs plain step: {slowest.loop_vs_plain:.2f} ({slowest.plain.name}; goal: at least 0.90)"
        )
        worst = max(model_figures, key=lambda f: f.data_share)
        goals.append(f"largest data path share of a step: {worst.data_share:.1%} ({worst.plain.name}; goal: under 5%)")
    if options.repro:
        seconds = noop_repro_seconds(root)
        goals.append(
            "no-op dvc repro: skipped, the pipeline is not up to date"
            if seconds is None
            else f"no-op dvc repro: {seconds:.1f} s (goal: under 5 s)"
        )
    return text + "\n".join(goals) + "\n"
