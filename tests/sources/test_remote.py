"""The url and kaggle source kinds, against a real HTTP server on 127.0.0.1."""

from __future__ import annotations

import hashlib
import io
import random
import re
import tarfile
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from ferpipe.sources import materialise
from ferpipe.sources.remote import DownloadError, download
from tests.conftest import fetch_of


def _archive() -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tf:
        for seed, name in enumerate(("happy/a.png", "sad/b.png")):
            data = random.Random(seed).randbytes(600_000)  # incompressible: the download spans many chunks
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


ARCHIVE = _archive()


class Handler(BaseHTTPRequestHandler):
    """Serves ARCHIVE with Range support; /flaky cuts the first response off halfway."""

    requests_seen: list[str] = []  # noqa: RUF012  (shared on purpose: the tests read it)

    def log_message(self, *args) -> None:  # keep test output clean
        pass

    def do_GET(self) -> None:
        Handler.requests_seen.append(f"{self.path} {self.headers.get('Range', '')}")
        if self.path.startswith("/missing"):
            self.send_error(404)
            return
        start = 0
        match = re.match(r"bytes=(\d+)-", self.headers.get("Range", ""))
        if match:
            start = int(match.group(1))
        body = ARCHIVE[start:]
        self.send_response(206 if start else 200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        first_flaky = self.path.startswith("/flaky") and sum("/flaky" in r for r in Handler.requests_seen) == 1
        self.wfile.write(body[: len(body) // 2] if first_flaky else body)
        if first_flaky:
            self.wfile.flush()
            self.close_connection = True


@pytest.fixture
def server() -> Iterator[str]:
    Handler.requests_seen = []
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


SHA = hashlib.sha256(ARCHIVE).hexdigest()


def test_url_source_downloads_checks_and_unpacks(server: str, tmp_path: Path) -> None:
    fetch = {"kind": "url", "url": f"{server}/data.tar.gz", "sha256": SHA}
    assert materialise("web", fetch_of(fetch), tmp_path / "raw", tmp_path) == 2
    assert (tmp_path / "raw" / "web" / "happy" / "a.png").exists()
    assert materialise("web", fetch_of(fetch), tmp_path / "raw", tmp_path) == 2  # cached: no second download
    assert len(Handler.requests_seen) == 1


def test_corrupted_download_is_refused_and_deleted(server: str, tmp_path: Path) -> None:
    fetch = {"kind": "url", "url": f"{server}/data.tar.gz", "sha256": "0" * 64}
    with pytest.raises(DownloadError, match=r"sha256 is [0-9a-f]{64}, expected 0+; the file was deleted"):
        materialise("web", fetch_of(fetch), tmp_path / "raw", tmp_path)
    assert not (tmp_path / "raw" / "web").exists()
    assert list((tmp_path / "downloads" / "web").iterdir()) == []


def test_interrupted_download_resumes_with_a_range_request(server: str, tmp_path: Path) -> None:
    target = download(f"{server}/flaky/data.tar.gz", tmp_path / "data.tar.gz", SHA, retries=3)
    assert target.read_bytes() == ARCHIVE
    assert Handler.requests_seen[0].endswith(" ")  # first request: no range
    assert re.search(r"bytes=\d+-$", Handler.requests_seen[1])  # then a resume from where it broke


def test_missing_file_fails_after_retries_naming_the_url(server: str, tmp_path: Path) -> None:
    with pytest.raises(DownloadError, match=r"/missing/x.zip: download failed after 2 tries"):
        download(f"{server}/missing/x.zip", tmp_path / "x.zip", retries=2)


def test_kaggle_without_credentials_is_a_clear_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("KAGGLE_USERNAME", raising=False)
    monkeypatch.delenv("KAGGLE_KEY", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    with pytest.raises(ValueError, match="no credentials; set KAGGLE_USERNAME and KAGGLE_KEY"):
        materialise("k", fetch_of({"kind": "kaggle", "dataset": "msambare/fer2013"}), tmp_path / "raw", tmp_path)


def test_kaggle_secret_never_appears_in_errors(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KAGGLE_USERNAME", "someone")
    monkeypatch.setenv("KAGGLE_KEY", "s3cr3t-key-value")
    with pytest.raises(ValueError) as info:
        materialise("k", fetch_of({"kind": "kaggle"}), tmp_path / "raw", tmp_path)  # no dataset named
    assert "s3cr3t" not in str(info.value)


def test_one_location_setting_reaches_a_url_a_path_or_kaggle(server: str, tmp_path: Path, monkeypatch) -> None:
    """presets/fer2013.yaml's `where`: the same source from the web, from disk, or (named) from Kaggle."""
    assert (
        materialise("web", fetch_of({"kind": "location", "where": f"{server}/data.tar.gz"}), tmp_path / "raw", tmp_path)
        == 2
    )
    local = tmp_path / "copy.tar.gz"
    local.write_bytes(ARCHIVE)
    assert materialise("disk", fetch_of({"kind": "location", "where": "copy.tar.gz"}), tmp_path / "raw", tmp_path) == 2
    assert sorted(p.name for p in (tmp_path / "raw" / "disk").rglob("*.png")) == ["a.png", "b.png"]
    for variable in ("KAGGLE_USERNAME", "KAGGLE_KEY"):
        monkeypatch.delenv(variable, raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    with pytest.raises(ValueError, match="kaggle source: no credentials"):
        materialise(
            "k", fetch_of({"kind": "location", "where": "kaggle:deadskull7/fer2013"}), tmp_path / "raw", tmp_path
        )
