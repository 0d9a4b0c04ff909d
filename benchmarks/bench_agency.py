"""Agency report benchmark (run by hand, not in CI):

    python benchmarks/bench_agency.py [--respondents 6000] [--units 30] [--jobs 2] [--keep DIR]

Writes a synthetic own-survey file of one province (``--respondents`` rows, ``--units`` units:
two thirds departments, one third district committees, Vietnamese headers and text answers, no
design columns) and its codebook, then times, cold (an empty cache and output folder), the one
command ``sipas reports --data FILE --codebook C --year 2024 --units all --jobs JOBS``: the
shared results (every unit's index, peer rank sets, the province contrast, PAR points,
importance), one executed notebook, HTML page and Excel workbook per unit, the league table and
the manifest. Target: 30 reports from 6,000 respondents in at most 40 s on 2 cores.

Wall time is measured around the command, run in a child process; peak memory is the summed
resident set size of the child's process tree (the command and its kernels), sampled every
0.1 s with psutil, and the largest single process (``ru_maxrss`` of the children).
"""
from __future__ import annotations

import argparse
import resource
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

ROOT = Path(__file__).resolve().parent.parent
SCALE = ("Rất không hài lòng", "Không hài lòng", "Bình thường", "Hài lòng", "Rất hài lòng")
FACTORS = {"access": 3, "procedure": 4, "staff": 4, "result": 3, "feedback": 3}


def write_survey(folder: Path, *, n: int, n_units: int, seed: int = 7) -> tuple[Path, Path]:
    rng = np.random.default_rng(seed)
    departments = n_units * 2 // 3
    units = [f"Sở số {i + 1}" for i in range(departments)] + \
        [f"UBND huyện số {i + 1}" for i in range(n_units - departments)]
    unit = rng.integers(0, n_units, size=n)
    effect = rng.normal(0, 0.4, size=n_units)[unit] + rng.normal(0, 0.7, size=n)
    headers = {}
    for factor, count in FACTORS.items():
        for j in range(count):
            headers[f"{factor}_{j + 1}"] = (factor, f"Câu {len(headers) + 1}: {factor} {j + 1}")
    answers = np.clip(np.rint(4.0 + effect[:, None] + rng.normal(0, 0.8, (n, len(headers) + 1))),
                      1, 5).astype(int)
    frame = pd.DataFrame({"Mã phiếu": [f"P{i:06d}" for i in range(n)],
                          "Đơn vị": np.array(units, dtype=object)[unit],
                          "Loại đơn vị": np.where(unit < departments, "Sở, ban, ngành",
                                                  "UBND cấp huyện")})
    labels = np.array(SCALE, dtype=object)
    for j, (_, header) in enumerate(headers.values()):
        frame[header] = labels[answers[:, j] - 1]
    frame["Câu chung: Mức độ hài lòng chung"] = labels[answers[:, -1] - 1]
    data = folder / "khao_sat_2024.csv"
    frame.to_csv(data, index=False)
    book = folder / "khao_sat_2024.codebook.yaml"
    book.write_text(yaml.safe_dump({
        "constants": {"year": 2024, "province": "Thái Nguyên"},
        "columns": {"respondent_id": "Mã phiếu", "unit": "Đơn vị", "unit_type": "Loại đơn vị"},
        "scale": {label: i for i, label in enumerate(SCALE, start=1)}, "satisfied": [4, 5],
        "ratings": {f: {c: h for c, (g, h) in headers.items() if g == f} for f in FACTORS},
        "overall": "Câu chung: Mức độ hài lòng chung"}, allow_unicode=True, sort_keys=False),
        encoding="utf-8")
    return data, book


def _tree_rss(process) -> int:
    import psutil
    total = 0
    for proc in [process, *process.children(recursive=True)]:
        try:
            total += proc.memory_info().rss
        except psutil.Error:
            pass
    return total


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--respondents", type=int, default=6000)
    parser.add_argument("--units", type=int, default=30)
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--keep", default=None, help="work in this folder and keep it")
    args = parser.parse_args()
    work = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="bench-agency-"))
    work.mkdir(parents=True, exist_ok=True)
    shutil.rmtree(work / "reports", ignore_errors=True)
    shutil.rmtree(work / "cache", ignore_errors=True)
    data, book = write_survey(work, n=args.respondents, n_units=args.units)
    command = [sys.executable, "-m", "sipas_analysis.cli", "reports", "--data", str(data),
               "--codebook", str(book), "--year", "2024", "--units", "all",
               "--jobs", str(args.jobs), "--out", str(work / "reports"), "--no-progress"]
    import os

    import psutil
    env = dict(os.environ, SIPAS_CACHE_DIR=str(work / "cache"),
               PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    started = time.perf_counter()
    child = subprocess.Popen(command, cwd=work, env=env)
    process, peak = psutil.Process(child.pid), 0

    def sample():
        nonlocal peak
        while child.poll() is None:
            try:
                peak = max(peak, _tree_rss(process))
            except psutil.Error:
                pass
            time.sleep(0.1)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    status = child.wait()
    seconds = time.perf_counter() - started
    sampler.join()
    largest = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    reports = len(list((work / "reports" / "2024").glob("*/report.html")))
    print(f"agency reports: {reports} units from {args.respondents:,} respondents, jobs "
          f"{args.jobs}, cold: {seconds:.1f} s (target <= 40 s on 2 cores; exit {status})")
    print(f"peak memory: {peak / 2**20:,.0f} MB summed over the process tree; largest single "
          f"process {largest:,.0f} MB")
    if not args.keep:
        shutil.rmtree(work, ignore_errors=True)
    return status


if __name__ == "__main__":
    sys.exit(main())
