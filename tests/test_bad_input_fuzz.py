"""Readers under hostile input: a corpus of broken files, then random bytes and random CSV rows.

Whatever arrives, a reader either returns records (bad items counted as skipped, with the file
and row) or raises SourceError naming the file; it never crashes with anything else.
"""

from __future__ import annotations

import string
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ferpipe.data.prepare import prepare
from ferpipe.readers.base import SourceError
from ferpipe.readers.registry import read_source
from tests.conftest import TINY_SOURCES, prepare_of, read_of, sources_of
from tests.corpus import BROKEN, Case, build_corpus


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Case]]:
    root = tmp_path_factory.mktemp("corpus")
    return root, build_corpus(root)


def test_prepare_lists_every_bad_item_of_the_corpus_by_file_and_row(corpus, tiny_raw: Path) -> None:
    root, cases = corpus
    readable = {name: case for name, case in cases.items() if not case.error}
    if not (root / "fer2013").exists():
        (root / "fer2013").symlink_to(tiny_raw / "fer2013")
    sources = {"fer2013": TINY_SOURCES["fer2013"]}
    sources |= {name: {"read": {"format": case.format, "role": "extra"}} for name, case in readable.items()}
    result = prepare(
        sources_of(sources),
        root,
        prepare_of({"usage_map": {"Training": "train", "PublicTest": "val", "PrivateTest": "test"}}),
    )
    got = {(r.source, r.file, r.row): r.reason for r in result.skipped.itertuples() if r.source in readable}
    expected = {(name, *item): reason for name, case in readable.items() for item, reason in case.skipped.items()}
    assert set(got) == set(expected)
    assert all(got[item].startswith(reason) for item, reason in expected.items()), got
    assert result.report["bad_items"] == len(result.skipped)
    kept = result.manifest["source"].value_counts()
    assert {name: kept[name] for name in readable} == {name: case.kept for name, case in readable.items()}


def test_every_item_a_reader_sees_is_used_or_listed(corpus, tiny_raw: Path) -> None:
    """Conservation, for every reader: items in = items in the prepared data + items in skipped.csv
    (duplicates, blank faces, labels outside the 7 classes and unreadable files alike)."""
    root, cases = corpus
    readable = {name: case.format for name, case in cases.items() if not case.error}
    for name in TINY_SOURCES:
        if not (root / name).exists():  # the corpus fixture is shared with the test above
            (root / name).symlink_to(tiny_raw / name)
    formats = readable | {name: cfg["read"]["format"] for name, cfg in TINY_SOURCES.items()}
    sources = {name: {"read": {"format": fmt, "role": "extra"}} for name, fmt in formats.items()}
    sources["fer2013"] = TINY_SOURCES["fer2013"]
    result = prepare(
        sources_of(sources),
        root,
        prepare_of({"usage_map": {"Training": "train", "PublicTest": "val", "PrivateTest": "test"}}),
    )
    for name, fmt in formats.items():
        records = read_source(root / name, read_of(fmt))
        seen = len(records) + len(records.skipped)
        used = int((result.manifest["source"] == name).sum())
        listed = int((result.skipped["source"] == name).sum())
        assert seen == used + listed, (name, seen, used, listed)


def test_on_error_fail_stops_at_a_bad_item_naming_it(corpus) -> None:
    root, _ = corpus
    with pytest.raises(SourceError, match=r"images/happy/(bomb|garbage|truncated|zero)"):
        read_source(root / "images", read_of("image_folder", **{"on_error": "fail"}))
    with pytest.raises(SourceError, match=r"csv_rows/fer2013.csv: row 3: 3 pixel values"):
        read_source(root / "csv_rows", read_of("fer2013_csv", **{"on_error": "fail"}))


@pytest.mark.parametrize("name", BROKEN)
def test_a_broken_source_is_named(corpus, name: str) -> None:
    root, cases = corpus
    with pytest.raises(SourceError, match=f"{root / name}.*{cases[name].error}") as caught:
        read_source(root / name, read_of(cases[name].format))
    assert len(str(caught.value).splitlines()) == 1  # one line, not a dump


def test_an_empty_source_is_named(tmp_path: Path) -> None:
    (tmp_path / "happy").mkdir()
    with pytest.raises(SourceError, match=str(tmp_path)):
        read_source(tmp_path, read_of("image_folder"))


FUZZ = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


@FUZZ
@given(st.binary(max_size=2048))
def test_random_bytes_as_an_image_never_crash_the_reader(tmp_path_factory, data: bytes) -> None:
    root = tmp_path_factory.mktemp("fuzz")
    (root / "sad").mkdir()
    (root / "sad" / "x.png").write_bytes(data)
    try:
        records = read_source(root, read_of("image_folder"))
    except SourceError as exc:
        assert "x.png" in str(exc) or str(root) in str(exc)
        return
    assert len(records) + len(records.skipped) == 1


pixel_rows = st.one_of(
    st.text(alphabet=string.digits + " -x.", max_size=40),
    # near-valid rows: a few random values (any size of integer) padded to about 2304
    st.tuples(st.lists(st.integers(), max_size=6), st.integers(2296, 2304)).map(
        lambda drawn: " ".join(map(str, drawn[0] + [7] * (drawn[1] - len(drawn[0]))))
    ),
)


ONE_LINE = "".join(c for c in string.printable if c not in "\r\n")  # a row is one physical line


@FUZZ
@given(st.lists(st.tuples(st.text(alphabet=ONE_LINE, max_size=4), pixel_rows), min_size=1, max_size=5))
def test_random_csv_rows_are_read_or_skipped_with_their_row(tmp_path_factory, rows) -> None:
    root = tmp_path_factory.mktemp("csv")
    lines = ["emotion,pixels,Usage"] + [f'"{e.replace(chr(34), "")}","{p}",Training' for e, p in rows]
    (root / "fer2013.csv").write_text("\n".join(lines) + "\n")
    try:
        records = read_source(root, read_of("fer2013_csv"))
    except SourceError as exc:
        assert "fer2013.csv" in str(exc)
        return
    assert len(records) + len(records.skipped) == len(rows)
    assert all(2 <= s.row <= len(rows) + 1 and s.file == "fer2013.csv" for s in records.skipped)
