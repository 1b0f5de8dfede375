"""``ferpipe loadtest``: the served champion under load, good requests mixed with hostile ones.

N clients post to ``/invocations`` of ``mlflow models serve`` on 127.0.0.1 for a fixed time (and
at most a fixed number of requests), each drawing from a mix of what users send (a batch of
48x48 faces, a photo as base64) and what an attacker sends (a pixel bomb: 13000x13000 pixels in a
few hundred kB of PNG, an oversized batch, garbage base64, broken JSON, a wrong shape). It
reports requests per second, p50/p95 latency and the answers per kind, and the server's peak
memory (its whole process tree, sampled), so a change that lets one kind of request take the
server down shows as a number.

Only loopback addresses are ever targeted, and every loop is bounded in count and in time.
"""

from __future__ import annotations

import base64
import io
import json
import os
import random
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections import defaultdict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import numpy as np

from ferpipe.serving.classifier import MAX_BATCH

LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "::1", "[::1]")


@dataclass(frozen=True)
class Request:
    """One kind of request: its body, and whether a correct server answers it 200 or refuses it (4xx)."""

    kind: str
    body: bytes
    good: bool


@dataclass
class Tally:
    """What the clients saw, per kind of request."""

    latencies: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    answers: dict[str, dict[str, int]] = field(default_factory=lambda: defaultdict(lambda: defaultdict(int)))
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, kind: str, answer: str, seconds: float) -> None:
        with self.lock:
            self.latencies[kind].append(seconds)
            self.answers[kind][answer] += 1


def _png(picture: np.ndarray | None = None, size: tuple[int, int] | None = None) -> bytes:
    from PIL import Image

    image = Image.fromarray(picture) if picture is not None else Image.new("1", size or (1, 1))
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", optimize=True)
    return buffer.getvalue()


def _image_request(data: bytes) -> bytes:
    return json.dumps({"dataframe_records": [{"image": base64.b64encode(data).decode()}]}).encode()


def request_mix(faces: np.ndarray) -> list[Request]:
    """The requests the clients draw from: three good kinds, five hostile ones."""
    from PIL import Image

    photo = np.asarray(Image.fromarray(faces[0]).resize((200, 200)).convert("RGB"))
    return [
        Request("faces x8", json.dumps({"inputs": faces[:8].tolist()}).encode(), True),
        Request("face x1", json.dumps({"inputs": faces[:1].tolist()}).encode(), True),
        Request("photo 200px", _image_request(_png(photo)), True),
        Request("pixel bomb 13000px", _image_request(_png(size=(13000, 13000))), False),
        Request(
            f"batch of {MAX_BATCH + 1}",
            json.dumps({"inputs": np.zeros((MAX_BATCH + 1, 48, 48), int).tolist()}).encode(),
            False,
        ),
        Request("garbage base64", json.dumps({"dataframe_records": [{"image": "%%%" * 1000}]}).encode(), False),
        Request("broken JSON", b'{"inputs": [[1, 2', False),
        Request("wrong shape", json.dumps({"inputs": [[1, 2, 3]]}).encode(), False),
    ]


def _post(url: str, body: bytes, timeout: float) -> str:
    """The answer's status as text, or the failure's kind."""
    request = urllib.request.Request(f"{url}/invocations", body, {"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as answer:
            answer.read()
            return str(answer.status)
    except urllib.error.HTTPError as exc:
        exc.read()
        return str(exc.code)
    except TimeoutError:
        return "timeout"
    except OSError as exc:
        return f"connection: {type(exc).__name__}"


@dataclass(frozen=True)
class LoadOptions:
    clients: int = 4
    seconds: float = 20.0
    max_requests: int = 5000
    timeout: float = 30.0
    hostile_share: float = 0.3  # the share of requests drawn from the hostile kinds
    seed: int = 0


def run_load(url: str, mix: list[Request], options: LoadOptions, server_memory: Callable[[], int]) -> dict:
    """Drive ``url`` with ``options.clients`` threads; returns the figures :func:`render` prints."""
    host = urlsplit(url).hostname or ""
    if host not in LOOPBACK_HOSTS and f"[{host}]" not in LOOPBACK_HOSTS:
        raise ValueError(f"{url}: the load test only targets this machine (127.0.0.1, localhost)")
    good = [r for r in mix if r.good]
    hostile = [r for r in mix if not r.good]
    tally, sent = Tally(), [0]
    deadline = time.monotonic() + options.seconds
    peak, idle_memory, sampling = [server_memory()], server_memory(), threading.Event()

    def client(index: int) -> None:
        draw = random.Random(options.seed * 1000 + index)
        while time.monotonic() < deadline:
            with tally.lock:
                if sent[0] >= options.max_requests:
                    return
                sent[0] += 1
            request = draw.choice(hostile if draw.random() < options.hostile_share else good)
            started = time.perf_counter()
            answer = _post(url, request.body, options.timeout)
            tally.add(request.kind, answer, time.perf_counter() - started)

    def sample() -> None:
        while not sampling.wait(0.2):
            peak[0] = max(peak[0], server_memory())

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    started = time.monotonic()
    threads = [threading.Thread(target=client, args=(i,), daemon=True) for i in range(options.clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(options.seconds + options.timeout + 5)
    elapsed = time.monotonic() - started
    sampling.set()
    sampler.join(2)
    return _summary(mix, tally, elapsed, options, idle_memory, max(peak[0], server_memory()))


def _summary(mix: list[Request], tally: Tally, elapsed: float, options: LoadOptions, idle: int, peak: int) -> dict:
    rows = []
    for request in mix:
        times = np.array(tally.latencies.get(request.kind, []))
        answers = dict(sorted(tally.answers.get(request.kind, {}).items()))
        expected = "200" if request.good else "4xx"
        wrong = sum(n for answer, n in answers.items() if not _as_expected(answer, request.good))
        rows.append(
            {
                "kind": request.kind,
                "expected": expected,
                "requests": int(times.size),
                "answers": answers,
                "unexpected": wrong,
                "p50_ms": float(np.percentile(times, 50) * 1000) if times.size else None,
                "p95_ms": float(np.percentile(times, 95) * 1000) if times.size else None,
            }
        )
    total = sum(row["requests"] for row in rows)
    every = np.concatenate([np.array(v) for v in tally.latencies.values()]) if total else np.array([])
    return {
        "clients": options.clients,
        "seconds": round(elapsed, 1),
        "requests": total,
        "requests_per_s": total / elapsed if elapsed else 0.0,
        "p50_ms": float(np.percentile(every, 50) * 1000) if total else None,
        "p95_ms": float(np.percentile(every, 95) * 1000) if total else None,
        "unexpected": sum(row["unexpected"] for row in rows),
        "server_mb_idle": idle / 2**20,
        "server_mb_peak": peak / 2**20,
        "kinds": rows,
    }


def _as_expected(answer: str, good: bool) -> bool:
    return answer == "200" if good else answer.isdigit() and 400 <= int(answer) < 500


def render(results: list[dict]) -> str:
    """Each run's figures: one line per concurrency, then the answers per kind of the last run."""
    from ferpipe.tables import render as table

    columns = [
        ("clients", "right"),
        ("requests/s", "right"),
        ("p50 ms", "right"),
        ("p95 ms", "right"),
        ("unexpected", "right"),
        ("server MB idle", "right"),
        ("server MB peak", "right"),
    ]
    rows = [
        [
            str(r["clients"]),
            f"{r['requests_per_s']:.1f}",
            _ms(r["p50_ms"]),
            _ms(r["p95_ms"]),
            str(r["unexpected"]),
            f"{r['server_mb_idle']:.0f}",
            f"{r['server_mb_peak']:.0f}",
        ]
        for r in results
    ]
    out = table("the served champion under load (good and hostile requests mixed)", columns, rows)
    last = results[-1]
    kinds = [
        [k["kind"], k["expected"], str(k["requests"]), _answers(k["answers"]), _ms(k["p50_ms"]), _ms(k["p95_ms"])]
        for k in last["kinds"]
    ]
    kind_columns = [("request", "left"), ("expected", "left"), ("sent", "right"), ("answers", "left")]
    kind_columns += [("p50 ms", "right"), ("p95 ms", "right")]
    return out + table(f"answers per kind, {last['clients']} clients", kind_columns, kinds)


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.0f}"


def _answers(answers: dict[str, int]) -> str:
    return ", ".join(f"{answer}: {n}" for answer, n in answers.items()) or "-"


@contextmanager
def served(model_uri: str, tracking_uri: str, log: Path, workers: int = 1) -> Iterator[tuple[str, Callable[[], int]]]:
    """``mlflow models serve`` of ``model_uri`` on a free loopback port, as the README starts it;
    yields its URL and a function giving its process tree's resident memory in bytes."""
    import psutil

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    url = f"http://127.0.0.1:{port}"
    cmd = [sys.executable, "-m", "mlflow", "models", "serve", "-m", model_uri, "--env-manager", "local"]
    cmd += ["-h", "127.0.0.1", "-p", str(port), "-w", str(workers)]
    # mlflow models serve starts `uvicorn` by name: this interpreter's scripts first on PATH
    path = os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")])
    env = {**os.environ, "MLFLOW_TRACKING_URI": tracking_uri, "PATH": path}
    with open(log, "wb") as output:  # a file, not a pipe: a full pipe would block the server
        process = subprocess.Popen(cmd, env=env, stdout=output, stderr=output, start_new_session=True)
        try:
            _wait_for(url, process, log)
            tree = psutil.Process(process.pid)

            def memory() -> int:
                try:
                    members = [tree, *tree.children(recursive=True)]
                    return sum(p.memory_info().rss for p in members if p.is_running())
                except psutil.Error:
                    return 0

            yield url, memory
        finally:
            process.terminate()
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()


def _wait_for(url: str, process: subprocess.Popen, log: Path, seconds: float = 180) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"{url}/ping", timeout=2) as answer:
                if answer.status == 200:
                    return
        except OSError:
            if process.poll() is not None:
                break
            time.sleep(1)
    last = [line for line in log.read_text(errors="replace").splitlines() if line.strip()][-1:] or ["no output"]
    raise ValueError(f"mlflow models serve did not answer /ping (log {log}): {last[0][:300]}")
