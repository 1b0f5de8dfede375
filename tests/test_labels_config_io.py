"""Labels, the params loader and atomic writes."""

from __future__ import annotations

from pathlib import Path

import pytest

from ferpipe.config import Paths, load_yaml, repo_root
from ferpipe.io import atomic_dir, atomic_path, write_json
from ferpipe.labels import CLASSES, UnknownLabelError, canonical_index


def test_aliases_map_to_canonical_classes() -> None:
    assert canonical_index("anger") == CLASSES.index("angry")
    assert canonical_index("Sadness") == CLASSES.index("sad")
    assert canonical_index("SU") == CLASSES.index("surprise")


def test_contempt_is_dropped_and_typos_are_errors() -> None:
    assert canonical_index("contempt") is None
    with pytest.raises(UnknownLabelError, match="happpy"):
        canonical_index("happpy")


def test_source_label_map_overrides_and_is_checked() -> None:
    assert canonical_index("joy", {"joy": "happy"}) == CLASSES.index("happy")
    assert canonical_index("other", {"other": None}) is None
    with pytest.raises(UnknownLabelError, match="bored"):
        canonical_index("x", {"x": "bored"})


def test_params_loader_reads_exponents_as_floats(tmp_path) -> None:
    path = tmp_path / "params.yaml"
    path.write_text("lr: 1e-3\nwd: 1.0e-4\nn: 3\n")
    assert load_yaml(path) == {"lr": 0.001, "wd": 0.0001, "n": 3}


def test_bad_yaml_error_names_the_file(tmp_path) -> None:
    path = tmp_path / "params.yaml"
    path.write_text("a: [1, 2\n")
    with pytest.raises(ValueError, match=r"params\.yaml"):
        load_yaml(path)


def test_outputs_stay_in_the_workspace_and_the_store_follows_dvc_root(tmp_path, monkeypatch) -> None:
    """A queued experiment runs in a temporary copy; DVC_ROOT names the user's repo."""
    workspace, home = tmp_path / "exps" / "tmp1", tmp_path / "repo"
    (workspace / "stages").mkdir(parents=True)
    (workspace / "dvc.yaml").write_text("stages: {}\n")
    monkeypatch.chdir(workspace / "stages")
    monkeypatch.setenv("DVC_ROOT", str(home))
    paths = Paths()
    assert repo_root() == workspace.resolve()
    assert paths.metrics == workspace.resolve() / "metrics" and paths.home == home.resolve()
    monkeypatch.delenv("DVC_ROOT")
    assert Paths().home == workspace.resolve()


def test_atomic_write_leaves_nothing_on_failure(tmp_path) -> None:
    target = tmp_path / "out.json"
    with pytest.raises(RuntimeError), atomic_path(target) as tmp:
        tmp.write_text("half")
        raise RuntimeError("killed")
    assert list(tmp_path.iterdir()) == []
    write_json(target, {"b": 1, "a": 2})
    assert target.read_text() == '{\n  "a": 2,\n  "b": 1\n}\n'


def test_atomic_outputs_get_ordinary_permissions(tmp_path) -> None:
    write_json(tmp_path / "m.json", {})
    with atomic_dir(tmp_path / "d") as folder:
        (folder / "f").write_text("x")
    assert (tmp_path / "m.json").stat().st_mode & 0o044  # readable by others, as open() makes it
    assert (tmp_path / "d").stat().st_mode & 0o055


def test_a_killed_writes_temporaries_are_removed_by_the_next_write(tmp_path) -> None:
    """SIGKILL skips every finally: the next write of the same target clears what was left."""
    (tmp_path / ".out.json.abc123.tmp").write_text("half")
    (tmp_path / ".raw.xyz.tmp").mkdir()
    (tmp_path / ".raw.xyz.tmp" / "part.png").write_bytes(b"p")
    (tmp_path / ".other.json.q.tmp").write_text("another target's: left alone")
    write_json(tmp_path / "out.json", {})
    with atomic_dir(tmp_path / "raw") as folder:
        (folder / "f").write_text("x")
    assert sorted(p.name for p in tmp_path.iterdir()) == [".other.json.q.tmp", "out.json", "raw"]


def test_dvc_and_git_ignore_the_temporaries() -> None:
    repo = Path(__file__).resolve().parents[1]
    for name in (".dvcignore", ".gitignore"):
        assert ".*.tmp" in (repo / name).read_text().splitlines(), name
