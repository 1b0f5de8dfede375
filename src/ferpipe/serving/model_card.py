"""The model card of a registered classifier, written from the metrics files, never by hand.

What it is (members, method, weights, views, temperature), the data and protocol it was trained
and scored under (sources, splits, audit, balancing, leaky switches), its metrics per class, its
calibration, the compute it took, and its known limits. It becomes the registry version's
description and two files beside the model in MLflow: ``model_card.md`` for people and
``model_card.json`` for the served model, which says which version answered and warns when the
model never saw a real face.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ferpipe.config import Paths
from ferpipe.io import read_json
from ferpipe.labels import CLASSES
from ferpipe.protocol import deliberate_leaks
from ferpipe.serving.chosen import Chosen

if TYPE_CHECKING:
    from ferpipe.schema import Params

CARD_FILE = "model_card.md"
IDENTITY_FILE = "model_card.json"  # read by the served model (classifier.py)
SYNTHETIC_WARNING = (
    "trained on ferpipe's built-in synthetic faces only: its answers on real photos are not real predictions"
)
LIMITS = (
    "Input is a 48x48 grey face; bigger pictures are cropped to the largest face the Haar cascade finds, "
    "so a missed or wrong detection gives a wrong answer.",
    "Seven posed-expression classes (contempt dropped): it says which of them a face looks like, not what "
    "a person feels.",
    "FER2013-style labels are noisy (one annotator per image); per-class scores below show where it is weak.",
    "Accuracy, calibration and the class balance hold for the test split's population only; it has not been "
    "checked across age, skin tone, gender or camera conditions.",
)


def synthetic_only(params: Params) -> bool:
    """Whether every source is ferpipe's built-in synthetic data (the default pipeline)."""
    return all(source.fetch.kind == "synthetic" for source in params.sources.values())


def card_facts(
    params: Params,
    paths: Paths,
    chosen: Chosen,
    scores: dict[str, Any],
    tags: dict[str, str],
    budgets: dict[str, dict[str, Any]],
) -> dict[str, Any]:
    """Everything the card says about ``chosen``, gathered from params, the metrics files, the run's tags
    and each member's training budget (``tracking.train_budget`` of its train run, where the store has it)."""
    name, members, weights = chosen.name, chosen.members, chosen.weights
    data = read_json(paths.detail("data_report"))
    audit = read_json(paths.detail("audit"))
    balance = read_json(paths.detail("balance"))
    return {
        "model": name,
        "kind": "ensemble" if name.startswith("ensemble_") else "single model",
        "method": chosen.method,
        "members": {m: {**read_json(paths.detail(f"train/{m}")), **budgets.get(m, {})} for m in members},
        "archs": {m: _arch(params, m) for m in members},
        "weights": dict(zip(members, weights, strict=True)) if weights else None,
        "tta": params.evaluate.tta,
        "sources": {name: f"{source.fetch.kind}, {source.read.role}" for name, source in params.sources.items()},
        "splits": {
            split: sum(sum(per_source.get(split, {}).values()) for per_source in data.get("counts", {}).values())
            for split in ("train", "val", "test")
        },
        "audit": {k: audit.get(k) for k in ("policy", "test_images_with_copies", "val_images_with_copies", "dropped")},
        "balance": balance.get("method", params.balance.method),
        "leaks": deliberate_leaks(params.balance, params.audit),
        "synthetic_only": synthetic_only(params),
        "scores": {split: scores[split] for split in ("val", "test")},
        "cross": scores.get("cross", {}),  # the test-only sources: never trained on, never chosen with
        "calibration": scores.get("calibration"),
        "robustness": scores.get("robustness"),  # the test faces corrupted (ferpipe.evaluate.robustness)
        "saliency": {m: read_json(paths.detail(m)).get("saliency", {}) for m in members},
        "provenance": {
            "data.hash": tags.get("data.hash", "-"),
            "git.commit": tags.get("git.commit", "-"),
            "dvc.exp_name": tags.get("dvc.exp_name", "none (a plain dvc repro)"),
        },
    }


def render(facts: dict[str, Any], registered: str, version: str) -> str:
    """The card as Markdown (MLflow renders a version's description as Markdown)."""
    what = (
        f"ensemble ({facts['method']}) of {', '.join(facts['members'])}"
        if facts["kind"] == "ensemble"
        else f"single model {facts['model']}"
    )
    test, val = facts["scores"]["test"], facts["scores"]["val"]
    lines = [f"# Model card: {registered} version {version} ({facts['model']})", ""]
    if facts["synthetic_only"]:
        lines += [f"**Warning: {SYNTHETIC_WARNING}.**", ""]
    if facts["leaks"]:
        lines += [f"**LEAKY PROTOCOL, ON PURPOSE: {'; '.join(facts['leaks'])}. Its numbers are not honest.**", ""]
    lines += [
        "## What it is",
        f"A ferpipe classifier: {what}, test-time views `{facts['tta']}`.",
        "",
        "| member | architecture | parameters | epochs | best epoch | train minutes | images/s | device |",
        "|---|---|---:|---:|---:|---:|---:|---|",
    ]
    for member, trained in facts["members"].items():
        lines.append(
            f"| {member} | {facts['archs'][member]} | {trained.get('n_parameters', 0):,} | "
            f"{trained.get('epochs', trained.get('epochs_run', '-'))} | {trained.get('best_epoch', '-')} | "
            f"{trained.get('train_minutes', '-')} | {trained.get('images_per_second', '-')} | "
            f"{trained.get('device', '-')} |"
        )
    if facts["weights"]:
        shown = ", ".join(f"{m} {w:.3f}" for m, w in facts["weights"].items())
        lines += ["", f"Weights, fitted on validation only: {shown}."]
    audit = facts["audit"]
    lines += [
        "",
        "## Data and protocol",
        "Sources: " + "; ".join(f"{s} ({how})" for s, how in facts["sources"].items()) + ".",
        f"Images after cleaning: {facts['splits']['train']:,} train, {facts['splits']['val']:,} validation, "
        f"{facts['splits']['test']:,} test. Balancing (training split only): {facts['balance']}.",
        f"Leakage audit (policy `{audit['policy']}`): {audit['test_images_with_copies']} test and "
        f"{audit['val_images_with_copies']} validation images had a copy in training; "
        f"{audit['dropped']} training images dropped.",
        "Chosen on validation; the test split never chose, fitted or balanced anything.",
        f"Data hash `{facts['provenance']['data.hash']}`, git commit `{facts['provenance']['git.commit'][:12]}`, "
        f"DVC experiment: {facts['provenance']['dvc.exp_name']}.",
        "",
        "## Metrics",
        f"Validation accuracy {_with_ci(val, 'accuracy')}; test accuracy {_with_ci(test, 'accuracy')}, "
        f"macro F1 {_with_ci(test, 'macro_f1')}, top-2 {test.get('top2_accuracy', float('nan')):.4f} "
        f"({test.get('n', '?')} test images; 95% intervals: Wilson's for accuracy, a seeded bootstrap over the "
        "faces for macro F1).",
        "",
        "| class | precision | recall | F1 | support |",
        "|---|---:|---:|---:|---:|",
        *(
            f"| {c} | {v['precision']:.3f} | {v['recall']:.3f} | {v['f1']:.3f} | {v['support']} |"
            for c, v in ((c, test["per_class"][c]) for c in CLASSES)
        ),
    ]
    if facts.get("cross"):
        lines += [
            "",
            "## Cross-dataset (test-only sources: never trained on, never chosen with)",
            "| source | images | accuracy (95% CI) | macro F1 |",
            "|---|---:|---:|---:|",
            *(
                f"| {s} | {v['n']:,} | {_with_ci(v, 'accuracy')} | {v['macro_f1']:.3f} |"
                for s, v in facts["cross"].items()
            ),
        ]
    calibration = facts["calibration"]
    if calibration:
        lines += [
            "",
            "## Calibration",
            f"Temperature {calibration['temperature']:.3f}, fitted on validation; the served probabilities "
            f"are scaled by it. Expected calibration error ({calibration['bins']} bins): validation "
            f"{calibration['val']['ece']:.3f} -> {calibration['val']['ece_scaled']:.3f}, test "
            f"{calibration['test']['ece']:.3f} -> {calibration['test']['ece_scaled']:.3f}.",
        ]
    lines += _robustness_lines(facts.get("robustness")) + _saliency_lines(facts.get("saliency") or {})
    lines += ["", "## Known limits", *(f"- {limit}" for limit in LIMITS)]
    return "\n".join(lines) + "\n"


def _robustness_lines(robustness: dict[str, Any] | None) -> list[str]:
    if not robustness:
        return []
    means = robustness["mean_by_corruption"]
    weakest = robustness["weakest"]
    return [
        "",
        "## Robustness (the test faces corrupted, three severities each)",
        f"Weakest under **{weakest.replace('_', ' ')}**: accuracy {means[weakest]:.3f} (mean of its severities) "
        f"against {robustness['clean_accuracy']:.3f} clean.",
        "",
        "| corruption | accuracy (mean of severities 1-3) |",
        "|---|---:|",
        *(f"| {name.replace('_', ' ')} | {value:.3f} |" for name, value in means.items()),
    ]


def _saliency_lines(saliency: dict[str, dict[str, Any]]) -> list[str]:
    if not saliency:
        return []
    return [
        "",
        "## Where it looks (Grad-CAM)",
        *(
            f"- {m}: "
            + (
                f"skipped, {found['skipped']}"
                if "skipped" in found
                else f"layer `{found['layer']}`, "
                f"{found['map'][0]}x{found['map'][1]} map; pictures `saliency.png`, `saliency_examples.png` in its run"
            )
            for m, found in saliency.items()
        ),
    ]


def identity(facts: dict[str, Any], registered: str, version: str) -> dict[str, Any]:
    """What the served model says about itself with every answer."""
    return {
        "answered_by": f"models:/{registered}/{version} ({facts['model']})",
        "warning": SYNTHETIC_WARNING if facts["synthetic_only"] else "",
    }


def write_card(facts: dict[str, Any], registered: str, version: str, folder: Path) -> tuple[str, list[Path]]:
    """The card's Markdown, and its two files in ``folder`` (for MLflow to store beside the model)."""
    text = render(facts, registered, version)
    card, ident = folder / CARD_FILE, folder / IDENTITY_FILE
    card.write_text(text, encoding="utf-8")
    ident.write_text(json.dumps(identity(facts, registered, version)))
    return text, [card, ident]


def _arch(params: Params, name: str) -> str:
    student = params.distill.get(name)
    model = params.models.get(student.recipe if student else name)
    return (model.arch if model else "?") + (f" (distilled, recipe {student.recipe})" if student else "")


def _with_ci(scores: dict[str, Any], name: str) -> str:
    """``0.8720 (0.840-0.898)``: a score with its 95% interval, where the scores carry one."""
    interval = scores.get("interval", {}).get(name)
    return f"{scores[name]:.4f}" + (f" ({interval[0]:.3f}-{interval[1]:.3f})" if interval else "")
