"""The ``report`` stage and ``ferpipe report``: plot data for DVC and one self-contained HTML page.

Everything is read from the committed metrics and the audited data, so the report of any
commit can be rebuilt; images are embedded, so the file can be mailed or archived alone.
"""

from __future__ import annotations

import base64
import html
import json
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from ferpipe.config import Paths
from ferpipe.data.dataset import Split, load_split
from ferpipe.evaluate.ensemble import METHODS
from ferpipe.evaluate.metrics import with_interval
from ferpipe.evaluate.plots import confusion_png_from_csv, saliency_folder
from ferpipe.evaluate.robustness import ROBUSTNESS, severity_curve
from ferpipe.io import atomic_path
from ferpipe.labels import CLASSES
from ferpipe.report import figures
from ferpipe.report.plotdata import class_distribution, curves_long

if TYPE_CHECKING:
    from ferpipe.schema import Params

REPORT_FILE = "report.html"

STYLE = """
body { font-family: system-ui, sans-serif; margin: 2rem auto; max-width: 1100px; color: #222; }
h1 { margin-bottom: 0; } .sub { color: #666; margin-top: .3rem; }
h2 { border-bottom: 1px solid #ddd; padding-bottom: .2rem; margin-top: 2.2rem; }
table { border-collapse: collapse; margin: .6rem 0; font-size: .9rem; }
th, td { border: 1px solid #ddd; padding: .25rem .6rem; text-align: right; }
th:first-child, td:first-child { text-align: left; }
th { background: #f3f5f8; } img { max-width: 100%; display: block; margin: .4rem 0; }
.champion { font-weight: bold; background: #fff6d6; }
"""


@dataclass(frozen=True)
class Contents:
    """What the report shows, from params: the experiment, its models, the ensemble's members, the students."""

    experiment: str
    models: tuple[str, ...]
    members: tuple[str, ...]
    students: tuple[str, ...]

    @classmethod
    def of(cls, params: Params) -> Contents:
        return cls(
            params.mlflow.experiment, tuple(params.models), tuple(params.ensemble.members), tuple(params.distill)
        )


def write_plot_data(contents: Contents, paths: Paths) -> None:
    """The long-format CSVs behind the cross-model ``dvc plots``."""
    folder = paths.metrics / "plots"
    with atomic_path(folder / "curves.csv") as tmp:
        curves_long(paths.metrics / "curves", list(contents.models)).to_csv(tmp, index=False)
    with atomic_path(folder / "class_distribution.csv") as tmp:
        class_distribution(paths.detail("balance")).to_csv(tmp, index=False)
    with atomic_path(folder / "robustness.csv") as tmp:
        pd.DataFrame(severity_curve(robustness_scores(contents, paths))).to_csv(tmp, index=False)


def robustness_scores(contents: Contents, paths: Paths) -> dict[str, dict[str, Any]]:
    """Every model's, ensemble method's and student's robustness: the ensemble's table, and each
    student's own (students train after the ensemble)."""
    table = _read(paths.detail(ROBUSTNESS))["models"]  # the members, then the methods, as the other tables
    names = [*contents.members, *(f"ensemble_{m}" for m in METHODS)]
    ordered = {name: table[name] for name in names if name in table}
    return ordered | {s: _read(paths.detail(s))["robustness"] for s in contents.students}


def build_report(contents: Contents, paths: Paths) -> str:
    """The whole page as one string."""
    models = list(contents.models)
    metrics = {m: _read(paths.detail(m)) for m in models}
    ensemble = _read(paths.detail("ensemble"))
    best = ensemble.get("best", {}).get("name", "")
    students = {s: _read(paths.detail(s)) for s in contents.students}
    train, test = load_split(paths.audited, "train"), load_split(paths.audited, "test")
    sections = [
        ("Data", _data_section(paths)),
        ("Sample faces (training split, after the audit)", _img(figures.faces_png(train.images, train.labels))),
        ("Training curves", _img(figures.curves_png(curves_long(paths.metrics / "curves", models)))),
        ("Ensemble against its members", _scores_section(metrics, ensemble, best)),
        ("Per-class F1 on the test split", _f1_table(metrics, ensemble)),
        ("Confusion matrices (test split)", _confusion_section(paths, models)),
        ("Calibration: how sure the predictions really are", _calibration_section({**metrics, **students}, ensemble)),
    ]
    if contents.students:
        sections.append(("Distillation: one model taught by the ensemble", _distill_section(paths, contents.students)))
    scored = {**_entries(metrics, ensemble), **students}
    if any("cross" in values for values in scored.values()):
        sections.append(("Cross-dataset: the test-only sources", _cross_section(scored)))
    sections += [
        ("Robustness: the test faces corrupted", _robustness_section(robustness_scores(contents, paths), test)),
        ("Where the models look: Grad-CAM", _saliency_section(paths, [*models, *students])),
    ]
    body = "".join(f"<h2>{html.escape(title)}</h2>\n{content}\n" for title, content in sections)
    title = f"ferpipe report: experiment {contents.experiment}"
    return (
        f"<!doctype html>\n<html lang='en'><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
        f"<style>{STYLE}</style></head><body>\n<h1>{html.escape(title)}</h1>\n"
        f"<p class='sub'>Built from metrics/ and data/audited (the page has no timestamp, so the same results give "
        f"the same file). Best of this pipeline on validation (registered as <code>@challenger</code>; "
        f"<code>@champion</code> only if it beats the champion): <b>{html.escape(best or 'none')}</b>.</p>\n"
        f"{body}</body></html>\n"
    )


ROLES = {"student": "distilled", "teacher": "its teacher", "alone": "the same recipe, labels alone"}


def _distill_section(paths: Paths, students: tuple[str, ...]) -> str:
    """Each student beside its teacher and its recipe trained alone, from metrics/details/distill/."""
    summaries = [_read(paths.detail(f"distill/{name}")) for name in students]
    rows = [
        {
            "model": summary[role]["name"],
            "is": ROLES[role],
            "val accuracy": summary[role]["val_accuracy"],
            "test accuracy": summary[role]["test_accuracy"],
            "test 95% CI": _span(summary[role].get("test_accuracy_interval")),
            "parameters": f"{summary[role]['n_parameters']:,}",
        }
        for summary in summaries
        for role in ROLES
    ]
    paired = [found["test"] for summary in summaries for found in summary.get("paired", {}).values()]
    return (
        "<p>Each student trains by its recipe's settings on the labels and on the ensemble's probabilities of "
        "the training images (never validation or test); the recipe trained alone is the comparison at the "
        "same budget.</p>"
        + _table(pd.DataFrame(rows))
        + (
            "<p>The student against its teacher and its recipe alone, paired on the same test faces:</p>"
            if paired
            else ""
        )
        + (_paired_table(paired) if paired else "")
    )


def _read(path: Path) -> dict[str, Any]:
    if not path.exists():
        raise ValueError(f"{path}: missing; run `dvc repro` first")
    return json.loads(path.read_text())


def _img(png: bytes, alt: str = "") -> str:
    return f"<img alt='{html.escape(alt)}' src='data:image/png;base64,{base64.b64encode(png).decode()}'>"


def _table(frame: pd.DataFrame, highlight: str = "") -> str:
    text = frame.to_html(index=False, float_format=lambda v: f"{v:.4f}", border=0, escape=True)
    return text.replace(f"<tr>\n      <td>{highlight}</td>", f"<tr class='champion'>\n      <td>{highlight}</td>")


def _data_section(paths: Paths) -> str:
    report = _read(paths.detail("data_report"))
    audit = _read(paths.detail("audit"))
    rows = [
        {"source": source, "split": split, **{c: counts.get(c, 0) for c in CLASSES}, "total": sum(counts.values())}
        for source, splits in report["counts"].items()
        for split, counts in splits.items()
    ]
    dropped = pd.DataFrame(sorted(report["dropped"].items()), columns=["dropped at prepare", "images"])
    columns = list(dict.fromkeys(key for values in audit["exact"].values() for key in values))
    exact = pd.DataFrame(  # counts stay integers: a pair kind without a count shows "-", not NaN
        [{"exact copies": pair, **{k: values.get(k, "-") for k in columns}} for pair, values in audit["exact"].items()]
    )
    audit_note = (
        f"<p>Leakage audit (policy <code>{html.escape(str(audit['policy']))}</code>): "
        f"{audit['test_images_with_copies']} test and {audit['val_images_with_copies']} validation images have a "
        f"copy in training; {audit['dropped']} training images dropped.</p>"
    )
    distribution = class_distribution(paths.detail("balance"))
    return (
        _table(pd.DataFrame(rows))
        + _table(dropped)
        + _bad_items(paths.skipped)
        + audit_note
        + _table(exact)
        + _img(figures.distribution_png(distribution))
    )


def _bad_items(path: Path, shown: int = 20) -> str:
    """The items prepare left out, each with its file and row (the first ``shown``)."""
    bad = pd.read_csv(path, keep_default_na=False) if path.exists() else pd.DataFrame()
    if bad.empty:
        return "<p>No item left out: every file and row was read, labelled and kept.</p>"
    first = f"; the first {shown}" if len(bad) > shown else ""
    return (
        f"<p>{len(bad)} items left out (counted by reason above): unreadable or malformed input, labels outside "
        f"the 7 classes, duplicates and blank faces, each listed with its file and row in metrics/{path.name}"
        f"{first}:</p>" + _table(bad.head(shown))
    )


def _entries(metrics: dict[str, dict[str, Any]], ensemble: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Members' and ensemble methods' metrics under one naming: ``cnn``, ``ensemble_weighted``."""
    return {**metrics, **{f"ensemble_{m}": ensemble[m] for m in METHODS if m in ensemble}}


def _scores(metrics: dict[str, dict[str, Any]], ensemble: dict[str, Any]) -> pd.DataFrame:
    """One row per member and method: the scores, each interval as its low and high end."""
    rows = []
    for name, values in _entries(metrics, ensemble).items():
        test, interval = values["test"], values["test"].get("interval", {})
        row = {"name": name, "val accuracy": values["val"]["accuracy"], "test accuracy": test["accuracy"]}
        row["test accuracy 95% CI"] = _span(interval.get("accuracy"))
        row["test macro F1"] = test["macro_f1"]
        row["test macro F1 95% CI"] = _span(interval.get("macro_f1"))
        row["test top-2"] = test["top2_accuracy"]
        rows.append(row)
    return pd.DataFrame(rows)


def _span(interval: list[float] | None) -> str:
    return f"{interval[0]:.3f}-{interval[1]:.3f}" if interval else "-"


def _scores_section(metrics: dict[str, dict[str, Any]], ensemble: dict[str, Any], best: str) -> str:
    scores = _scores(metrics, ensemble)
    weights = ", ".join(f"{m} {w:.3f}" for m, w in ensemble.get("weights", {}).items())
    note = (
        f"<p>Members: {html.escape(', '.join(ensemble.get('members', [])))}. Weighted-average weights, fitted on "
        f"validation only: {html.escape(weights)}. Ties in the vote go to the higher mean probability. "
        "Intervals are 95%: Wilson's for accuracy, a seeded bootstrap over the test faces for macro F1.</p>"
    )
    intervals = {name: values["test"].get("interval", {}) for name, values in _entries(metrics, ensemble).items()}
    return note + _table(scores, best) + _img(figures.scores_png(scores, intervals)) + _paired_section(ensemble)


def _paired_section(ensemble: dict[str, Any]) -> str:
    """Each ensemble method against the best member on the same test faces: beyond noise or not."""
    found = [
        ensemble[m]["against_best_member"]["test"] for m in METHODS if "against_best_member" in ensemble.get(m, {})
    ]
    if not found:
        return ""
    note = (
        "<p>Paired on the same test faces, each ensemble method against the member with the best validation "
        "accuracy: McNemar's exact test on the faces exactly one of the two gets right, and a bootstrap "
        "interval of the accuracy difference. Beyond noise: p &lt; 0.05 and an interval that excludes 0.</p>"
    )
    return note + _paired_table(found)


def _paired_table(comparisons: list[dict[str, Any]]) -> str:
    """Paired comparisons (``uncertainty.Comparison.as_dict``), a row each: B against A."""
    rows = []
    for found in comparisons:
        low, high = (v * 100 for v in found["interval"])
        rows.append(
            {
                "model": found["b"],
                "against": found["a"],
                "gain, points": f"{found['difference'] * 100:+.1f}",
                "95% CI (paired bootstrap)": f"{low:+.1f} to {high:+.1f}",
                "McNemar p": f"{found['p_value']:.3g}",
                "faces only one gets right": f"{found['only_a_right']} vs {found['only_b_right']}",
                "verdict": "beyond noise" if found["beyond_noise"] else "within noise",
            }
        )
    return _table(pd.DataFrame(rows))


def _cross_section(scored: dict[str, dict[str, Any]]) -> str:
    """Accuracy (95% interval) of every model, ensemble method and student on each test-only source,
    beside its test split, and the macro F1: never trained on, never chosen with."""
    rows = []
    for name, values in scored.items():
        row = {
            "name": name,
            "test split": with_interval(values["test"]["accuracy"], values["test"]["interval"]["accuracy"]),
        }
        for source, cross in values.get("cross", {}).items():
            row[f"{source} (n={cross['n']})"] = with_interval(cross["accuracy"], cross["interval"]["accuracy"])
            row[f"{source} macro F1"] = round(cross["macro_f1"], 3)
        rows.append(row)
    return (
        "<p>Sources declared <code>read.role: test_only</code> are never trained on and never choose anything "
        "(epochs, ensemble weights and the champion are chosen on validation); each is scored on its own. "
        "Accuracy with its 95% interval (Wilson). On real data, a face set from another camera, another "
        "population and posed expressions scores well below the test split: that gap is the finding. Per-class "
        "recall and the confusion matrices are in <code>metrics/details/&lt;name&gt;.json</code> under "
        "<code>cross</code>.</p>" + _table(pd.DataFrame(rows))
    )


def _robustness_section(scored: dict[str, dict[str, Any]], test: Split) -> str:
    """Each model's accuracy under each corruption (mean of the three severities), the weakest, and the
    accuracy-against-severity panels; one face shown under every corruption."""
    rows = []
    for name, robustness in scored.items():
        row = {"name": name, "clean": robustness["clean_accuracy"]}
        row |= {c.replace("_", " "): m for c, m in robustness["mean_by_corruption"].items()}
        rows.append(row | {"mean": robustness["mean_accuracy"], "weakest": robustness["weakest"].replace("_", " ")})
    n = next(iter(scored.values()))["n"]
    return (
        f"<p>{n} test faces under seven corruptions at three severities, each scored in one plain forward pass "
        "(no test-time views; 'clean' is the same faces in the same pass): Gaussian noise, blur, JPEG, "
        "dimmer light with less contrast, and black bands over the eyes and the mouth, or random 8x8 patches. "
        "The same corrupted faces for every model (seeded). Each cell is the accuracy averaged over the three "
        "severities; every severity with its 95% interval is in <code>metrics/details/robustness.json</code> "
        "(students: their own details) and MLflow (<code>robust/&lt;corruption&gt;/&lt;severity&gt;/accuracy"
        "</code>).</p>"
        + _table(pd.DataFrame(rows))
        + _img(figures.robustness_png(scored), "accuracy against severity")
        + "<p>One test face under each corruption, severities 1 to 3 below the clean face:</p>"
        + _img(figures.corruptions_png(test.images[0]), "the corruptions")
    )


def _saliency_section(paths: Paths, names: list[str]) -> str:
    """Each convolutional model's mean Grad-CAM per class and its examples; the others listed as skipped."""
    parts, skipped = [], []
    for name in names:
        folder = saliency_folder(paths.metrics, name)
        layer = _read(paths.detail(name)).get("saliency", {})
        if "skipped" in layer or not (folder / "saliency.png").exists():
            skipped.append(f"{name} ({layer.get('skipped', 'no map')})")
            continue
        parts.append(
            f"<h3>{html.escape(name)}</h3><p>Layer <code>{html.escape(layer['layer'])}</code>, its map "
            f"{layer['map'][0]}x{layer['map'][1]} before it is stretched over the face.</p>"
            + _img((folder / "saliency.png").read_bytes(), f"{name}: mean Grad-CAM per class")
            + _img((folder / "saliency_examples.png").read_bytes(), f"{name}: Grad-CAM examples")
        )
    note = (
        "<p>Grad-CAM (Selvaraju et al. 2017) weighs a convolution's feature maps by the gradient of the class "
        "score: red is where evidence for the class was found. The layer is the deepest convolution whose map is "
        "still at least 6x6, not the last one (2x2 or 3x3 on 48x48 faces). A wrong face's map is for the class "
        "the model chose. <code>ferpipe explain PHOTO...</code> draws the same for faces in photos.</p>"
    )
    listed = f"<p>Skipped: {html.escape(', '.join(skipped))}.</p>" if skipped else ""
    return note + listed + "".join(parts)


def _f1_table(metrics: dict[str, dict[str, Any]], ensemble: dict[str, Any]) -> str:
    rows = [
        {"name": name, **{c: test["per_class"][c]["f1"] for c in CLASSES}, "macro": test["macro_f1"]}
        for name, test in ((n, v["test"]) for n, v in _entries(metrics, ensemble).items())
    ]
    return _table(pd.DataFrame(rows))


def _calibration_section(metrics: dict[str, dict[str, Any]], ensemble: dict[str, Any]) -> str:
    """ECE before and after temperature scaling per model and method, and the test reliability diagrams."""
    entries = {name: v["calibration"] for name, v in _entries(metrics, ensemble).items() if "calibration" in v}
    rows = [
        {
            "name": name,
            "temperature": c["temperature"],
            "val ECE": c["val"]["ece"],
            "val ECE scaled": c["val"]["ece_scaled"],
            "test ECE": c["test"]["ece"],
            "test ECE scaled": c["test"]["ece_scaled"],
            "test log loss": c["test"]["log_loss"],
            "test log loss scaled": c["test"]["log_loss_scaled"],
        }
        for name, c in entries.items()
    ]
    note = (
        f"<p>Expected calibration error over {next(iter(entries.values()))['bins'] if entries else '-'} "
        "equal-width confidence bins (Guo et al. 2017): how far the top probability is from how often it is "
        "right. One temperature per model or method, fitted on validation only (log loss), divides the logits; "
        "the ranking of classes, so accuracy, does not change. The registered classifier, <code>ferpipe "
        "predict</code> and the served model answer with the scaled probabilities.</p>"
    )
    return note + _table(pd.DataFrame(rows)) + (_img(figures.reliability_grid_png(entries)) if entries else "")


def _confusion_section(paths: Paths, models: list[str]) -> str:
    names = [*models, *(f"ensemble_{m}" for m in METHODS)]
    csvs = [paths.confusion(n) for n in names]
    return "".join(_img(confusion_png_from_csv(p), p.stem) for p in csvs if p.exists())
