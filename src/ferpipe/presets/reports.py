"""The seed reports, rebuilt: one preset per report, its claimed numbers, and what ferpipe measures.

A report preset (``presets/reports/<name>.yaml``) holds the report's citation, what it
measures (each with the claimed value where it is on record, and the metrics file and key
that measure it here), the params that rebuild its data, balancing, models, schedule and
ensemble, and named ``variants``: top-level params that replace the base ones wholesale. The
variant ``report_protocol`` rebuilds the report's own protocol where it differs from
ferpipe's, typically a leak (:mod:`ferpipe.protocol`).

``ferpipe reproduce NAME`` runs the preset (:mod:`.launch`) and records what it measured
(:mod:`.results`).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ferpipe.config import load_yaml
from ferpipe.protocol import deliberate_leaks

REPORTS = Path("presets") / "reports"
BASE = "base"
REPORT_PROTOCOL = "report_protocol"


@dataclass(frozen=True)
class Measure:
    """One number a report gives: what it is, the claimed value (None: not on record here),
    where ferpipe's metrics hold it (``metrics/x.json:dotted.key``), and which variants measure it."""

    what: str
    metric: str
    claimed: float | None = None
    variants: tuple[str, ...] = ()

    def applies_to(self, variant: str) -> bool:
        return not self.variants or variant in self.variants

    def read(self, root: Path) -> float | None:
        """The measured value from a finished run's metrics file, as a percentage."""
        value = self._lookup(root, self.metric.partition(":")[2].split("."))
        return round(100 * float(value), 2) if isinstance(value, int | float) else None

    def interval(self, root: Path) -> list[float] | None:
        """Its 95% interval, as percentages, where the scores keep one beside it (``interval.<name>``)."""
        *section, name = self.metric.partition(":")[2].split(".")
        found = self._lookup(root, [*section, "interval", name])
        return [round(100 * float(v), 2) for v in found] if isinstance(found, list) and len(found) == 2 else None

    def _lookup(self, root: Path, keys: list[str]) -> Any:
        path = root / self.metric.partition(":")[0]
        if not path.exists():
            return None
        value: Any = json.loads(path.read_text())
        for part in keys:
            value = value.get(part) if isinstance(value, dict) else None
        return value


@dataclass(frozen=True)
class Report:
    """A published report and the preset that rebuilds it."""

    name: str
    title: str
    source: str
    measures: tuple[Measure, ...]
    params: dict[str, Any]
    variants: dict[str, dict[str, Any]] = field(default_factory=dict)
    notes: str = ""
    twin: str = BASE  # the honest run a report_protocol run is read against when base is not recorded

    def params_for(self, variant: str = BASE) -> dict[str, Any]:
        """The top-level params keys a run of ``variant`` writes into params.yaml."""
        if variant == BASE:
            return dict(self.params)
        if variant not in self.variants:
            raise ValueError(f"report {self.name!r}: no variant {variant!r}; have: {', '.join([BASE, *self.variants])}")
        return {**self.params, **self.variants[variant]}


def load_report(root: Path, name: str) -> Report:
    """Read ``presets/reports/<name>.yaml``; a malformed preset names its file and the problem."""
    path = root / REPORTS / f"{name}.yaml"
    if not path.exists():
        have = ", ".join(report_names(root)) or "none"
        raise ValueError(f"{path}: no such report preset; available: {have}")
    raw = load_yaml(path) or {}
    missing = [key for key in ("title", "source", "measures", "params") if key not in raw]
    if missing:
        raise ValueError(f"{path}: missing {missing}")
    try:
        measures = tuple(
            Measure(m["what"], m["metric"], m.get("claimed"), tuple(m.get("variants") or ())) for m in raw["measures"]
        )
    except (KeyError, TypeError) as exc:
        raise ValueError(f"{path}: each measure needs 'what' and 'metric' ({exc})") from exc
    return Report(
        name,
        raw["title"],
        raw["source"],
        measures,
        raw["params"],
        raw.get("variants") or {},
        raw.get("notes", ""),
        raw.get("honest_twin", BASE),
    )


def document_leaks(document: Mapping[str, Any]) -> list[str]:
    """The leaky switches a params document turns on (a report's variant, the params a run wrote),
    its sections read through the schema so that an unset key means what it means to the stages."""
    from ferpipe.schema import Audit, Balance

    balance = Balance.model_validate(document.get("balance") or {})
    return deliberate_leaks(balance, Audit.model_validate(document.get("audit") or {}))


def report_names(root: Path) -> list[str]:
    return sorted(p.stem for p in (root / REPORTS).glob("*.yaml"))


def experiment_name(report: str, variant: str) -> str:
    """The DVC experiment a run of ``report``/``variant`` is saved as."""
    return report if variant == BASE else f"{report}-{variant.replace('_', '-')}"


def describe(report: Report) -> str:
    """The ``--list`` entry of one report: title, source, claimed numbers, variants, notes."""
    lines = [f"{report.name}: {report.title}", f"  source: {report.source}"]
    for m in report.measures:
        claimed = f"{m.claimed:g}%" if m.claimed is not None else "not on record here"
        lines.append(f"  claimed {claimed:>20}  {m.what}")
    for variant in report.variants:
        leaks = document_leaks(report.params_for(variant))
        lines.append(f"  variant {variant}{'  (LEAKY, on purpose)' if leaks else ''}")
    if report.notes:
        lines.append(f"  notes: {' '.join(report.notes.split())}")
    return "\n".join(lines)
