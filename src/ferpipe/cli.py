"""The ``ferpipe`` command line: look at the model zoo and open the tracking UI."""

from __future__ import annotations

import subprocess
import sys

import typer

from ferpipe.config import repo_root

app = typer.Typer(help="ferpipe: reproducible facial expression recognition on DVC and MLflow.", no_args_is_help=True)


@app.command()
def models() -> None:
    """List the registered models with their parameter counts."""
    from ferpipe.models import count_parameters, create_model, describe, list_models

    rows = [(name, count_parameters(create_model(name)), describe(name)) for name in list_models()]
    width = max(len(name) for name, _, _ in rows)
    typer.echo(f"{'model':<{width}}  {'parameters':>11}  description")
    for name, n_params, doc in rows:
        typer.echo(f"{name:<{width}}  {n_params:>11,}  {doc}")


@app.command()
def preset(name: str = typer.Argument(None, help="Preset to write into params.yaml; omit to list them.")) -> None:
    """Write a preset (presets/NAME.yaml) into params.yaml, then run `dvc repro` or `dvc exp run`."""
    from ferpipe.presets import apply_preset, available

    root = repo_root()
    if name is None:
        typer.echo("\n".join(available(root)))
        return
    try:
        keys = apply_preset(name, root)
    except ValueError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from exc
    typer.echo(f"params.yaml: replaced {', '.join(keys)} from presets/{name}.yaml (undo: git checkout params.yaml)")


@app.command()
def ui(
    port: int = typer.Option(5000, help="Port to listen on (127.0.0.1 only)."),
    host: str = typer.Option("127.0.0.1", help="Interface to bind; keep it local."),
) -> None:
    """Start the MLflow UI on this project's tracking store."""
    from ferpipe.tracking import tracking_uri

    uri = tracking_uri(repo_root())
    typer.echo(f"MLflow UI for {uri} on http://{host}:{port}")
    cmd = [sys.executable, "-m", "mlflow", "ui", "--backend-store-uri", uri, "--host", host, "--port", str(port)]
    raise typer.Exit(subprocess.call(cmd))


if __name__ == "__main__":
    app()
