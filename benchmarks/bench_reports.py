"""Report batch benchmark (run by hand, not in CI):

    python benchmarks/bench_reports.py [--year 2024] [--jobs 2] [--serial-units 8]
                                       [--batch-units all] [--notebook PATH] [--keep DIR]

Measures, side by side in one run, in a fresh working directory (demo data):

1. **naive**: a plain serial loop of the ``papermill`` command, one cold process per unit, as a
   user would run them (``papermill NOTEBOOK out.ipynb -r province_code CODE -p year YEAR -r
   tables_path ...``; ``-r``: a raw string, since ``-p province_code 01`` would pass the integer
   1), on the first ``--serial-units`` units only, scaled to all units as first unit (which
   pays for the shared results) + mean of the others x (units - 1). It writes no HTML page (it
   does less than the batch: the ratio flatters it);
2. **batch cold**: ``sipas reports --year YEAR --units all --jobs JOBS`` with an empty cache
   (the shared national fits are computed first), executed notebook, HTML page and Excel
   workbook per unit, index and manifest;
3. **batch warm**: the same command with ``--force`` once the shared fits are cached: every
   unit is executed again (the figure the issue's "at most 1 s a unit" is about);
4. **no change**: the same command again without ``--force``: nothing changed, nothing runs.

Wall time is measured around each command. Peak memory is that of the whole process tree
(batch or loop, its papermill processes and every kernel): the sum of the resident set sizes of
all processes of the tree, sampled every 0.1 s with psutil (psutil must be installed). Also
printed: the largest single process (``getrusage(RUSAGE_CHILDREN).ru_maxrss`` of a wrapper
process, so that the two measurements do not mix).
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sipas_analysis import batch, reference  # noqa: E402


def _tree_rss(process) -> int:
    import psutil
    total = 0
    for proc in [process, *process.children(recursive=True)]:
        try:
            total += proc.memory_info().rss
        except psutil.Error:  # ended between listing and reading
            pass
    return total


def measure(commands: list[list[str]], *, cwd: Path, env: dict) -> dict:
    """Run ``commands`` one after the other in a wrapper process; return wall seconds of each,
    the peak summed RSS of the wrapper's process tree (psutil) and the largest single process."""
    import psutil
    wrapper = subprocess.Popen([sys.executable, __file__, "--_run", json.dumps(commands)],
                               cwd=cwd, env=env, stdout=subprocess.PIPE, text=True)
    process = psutil.Process(wrapper.pid)
    peak = 0
    done = threading.Event()

    def sample():
        nonlocal peak
        while not done.is_set():
            try:
                peak = max(peak, _tree_rss(process))
            except psutil.Error:
                break
            time.sleep(0.1)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    out, _ = wrapper.communicate()
    done.set()
    sampler.join()
    report = json.loads(out.strip().splitlines()[-1])
    report["peak_tree_bytes"] = peak
    return report


def _run(commands_json: str) -> None:
    """Inside the wrapper: run the commands serially, print JSON with seconds and maxrss."""
    seconds, status = [], []
    for command in json.loads(commands_json):
        start = time.perf_counter()
        done = subprocess.run(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        seconds.append(time.perf_counter() - start)
        status.append(done.returncode)
    maxrss_kb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss  # kB on Linux
    print(json.dumps({"seconds": seconds, "status": status,
                      "max_single_process_bytes": maxrss_kb * 1024}))


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--year", type=int, default=2024)
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--serial-units", type=int, default=8,
                        help="units of the naive serial loop, scaled to all (default 8)")
    parser.add_argument("--batch-units", default="all", help='"all" (default) or codes 01,79,...')
    parser.add_argument("--notebook", default=str(batch.DEFAULT_NOTEBOOK))
    parser.add_argument("--keep", default=None, help="work in this folder and keep it")
    args = parser.parse_args(argv)
    try:
        import psutil  # noqa: F401
    except ImportError:
        sys.exit("bench_reports needs psutil for the process-tree memory: pip install psutil")

    notebook = str(Path(args.notebook).resolve())
    unit_set, all_codes = batch.resolve_units(args.year, "all")
    _, batch_codes = batch.resolve_units(args.year, args.batch_units)
    serial_codes = all_codes[:args.serial_units]
    work = Path(args.keep or tempfile.mkdtemp(prefix="bench_reports_")).resolve()
    work.mkdir(parents=True, exist_ok=True)
    bin_dir = Path(sys.executable).parent
    env = dict(os.environ, PATH=f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}")
    # The demo parquet is written once, before any timing (both sides read it by path).
    previous = Path.cwd()
    os.chdir(work)
    try:
        batch.demo_data_path()
    finally:
        os.chdir(previous)

    print(f"notebook {notebook}; year {args.year}; {unit_set}-unit set; work folder {work}")
    n_all, n_batch = len(all_codes), len(batch_codes)
    gb = 1024 ** 3

    naive_dir = work / "naive"
    naive_dir.mkdir(exist_ok=True)
    naive_cmds = [[str(bin_dir / "papermill"), notebook, str(naive_dir / f"{code}.ipynb"),
                   "-r", "province_code", code, "-p", "year", str(args.year),
                   "-r", "tables_path", str(naive_dir / f"{code}.xlsx"), "-k", batch.KERNEL_NAME,
                   "--no-progress-bar"] for code in serial_codes]
    naive_run = measure(naive_cmds, cwd=work,
                        env=env | {batch.CACHE_DIR_ENV: str(work / "cache-naive")})
    per_unit = naive_run["seconds"]
    naive_scaled = per_unit[0] + (sum(per_unit[1:]) / max(len(per_unit) - 1, 1)) * (n_all - 1) \
        if len(per_unit) > 1 else per_unit[0] * n_all
    print(f"naive       (papermill CLI, serial, {len(serial_codes)} units measured): "
          f"{sum(per_unit):7.1f} s wall (first unit {per_unit[0]:.1f} s incl. shared results, "
          f"then {sum(per_unit[1:]) / max(len(per_unit) - 1, 1):.2f} s a unit; failures "
          f"{sum(s != 0 for s in naive_run['status'])}); scaled to {n_all} units: "
          f"{naive_scaled:7.1f} s; peak memory of the tree {naive_run['peak_tree_bytes'] / gb:.2f}"
          f" GB, largest process {naive_run['max_single_process_bytes'] / gb:.2f} GB", flush=True)

    batch_cmd = [str(bin_dir / "sipas"), "reports", "--year", str(args.year), "--units",
                 ",".join(batch_codes), "--jobs", str(args.jobs), "--out", str(work / "batch"),
                 "--notebook", notebook, "--no-progress"]
    batch_env = env | {batch.CACHE_DIR_ENV: str(work / "cache-batch")}
    manifest_path = work / "batch" / str(args.year) / "manifest.json"
    runs = {}
    for name, extra in [("batch cold", []), ("batch warm", ["--force"]), ("no change", [])]:
        run = measure([batch_cmd + extra], cwd=work, env=batch_env)
        manifest = json.loads(manifest_path.read_text())
        runs[name] = (run, manifest)
        seconds = run["seconds"][0]
        print(f"{name:<11} ({n_batch} units, --jobs {args.jobs}): {seconds:7.1f} s wall, "
              f"{seconds / n_batch:.2f} s a unit (shared results {manifest['shared_seconds']:.1f}"
              f" s; exit {run['status'][0]}; {manifest['summary']['ok']} ok, "
              f"{manifest['summary']['failed']} failed; ran {manifest['work']['ran']}, skipped "
              f"{manifest['work']['skipped']}); peak memory of the tree "
              f"{run['peak_tree_bytes'] / gb:.2f} GB, largest process "
              f"{run['max_single_process_bytes'] / gb:.2f} GB", flush=True)
    if n_batch == n_all:
        for name in ["batch cold", "batch warm", "no change"]:
            seconds = runs[name][0]["seconds"][0]
            print(f"ratio naive / {name} (wall, {n_all} units): {naive_scaled / seconds:6.1f}x")
    else:
        print("ratio: run with --batch-units all to compare whole batches")
    if not args.keep:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--_run":
        _run(sys.argv[2])
    else:
        main()
