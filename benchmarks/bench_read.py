"""Reading benchmark (run by hand, not in CI): python benchmarks/bench_read.py [N]

Writes N respondents (default 200,000) x 40 columns to an .xlsx as a province's survey office
would have it (three title rows, Vietnamese headers, answers as text, real dates), with
xlsxwriter in constant-memory mode, then reads it with ``readers.read_raw`` (python-calamine)
and with plain ``pandas.read_excel(path, engine="openpyxl")``, and read *and validated* through
its codebook (``sa.load_survey(path, codebook=...)``: labels to numbers, dates, units, every
check), each in a fresh process so that each peak resident memory is its own. Prints seconds,
the ratios and peak memory.
Target (2 cores): read and validated at least 5x faster than pandas with openpyxl reading alone.
"""
from __future__ import annotations

import datetime as dt
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

SCALE = ["Rất không hài lòng", "Không hài lòng", "Bình thường", "Hài lòng", "Rất hài lòng",
         "Không ý kiến"]
UNITS = ["Sở Tư pháp", "Sở Văn hóa, Thể thao và Du lịch", "Sở Giao thông vận tải",
         "Sở Xây dựng", "UBND huyện Phú Lương", "UBND thành phố Thái Nguyên"]
N_RATINGS = 34        # with 6 other columns: 40


def write(path: Path, n: int, seed: int = 0) -> None:
    import xlsxwriter

    rng = np.random.default_rng(seed)
    book = xlsxwriter.Workbook(str(path), {"constant_memory": True})
    sheet = book.add_worksheet("Kết quả")
    date = book.add_format({"num_format": "dd/mm/yyyy"})
    sheet.write_string(0, 0, "UBND TỈNH THÁI NGUYÊN")
    sheet.write_string(1, 0, "KẾT QUẢ KHẢO SÁT MỨC ĐỘ HÀI LÒNG NĂM 2024")
    header = ["STT", "Mã phiếu", "Đơn vị được khảo sát", "Loại đơn vị", "Ngày khảo sát",
              "Giới tính"] + [f"Câu {k}: tiêu chí {k}" for k in range(1, N_RATINGS + 1)]
    for j, name in enumerate(header):
        sheet.write_string(3, j, name)
    answers = np.minimum(rng.integers(2, 7, size=(n, N_RATINGS)), 5)
    answers[rng.random(answers.shape) < 0.02] = 6
    unit = rng.integers(0, len(UNITS), size=n)
    day = rng.integers(0, 90, size=n)
    sex = rng.integers(0, 2, size=n)
    first = dt.datetime(2024, 9, 1)
    for i in range(n):
        r = 4 + i
        sheet.write_number(r, 0, i + 1)
        sheet.write_string(r, 1, f"TN-{i + 1:06d}")
        sheet.write_string(r, 2, UNITS[unit[i]])
        sheet.write_string(r, 3, "Sở, ban, ngành" if unit[i] < 4 else "UBND cấp huyện")
        sheet.write_datetime(r, 4, first + dt.timedelta(days=int(day[i])), date)
        sheet.write_string(r, 5, "Nữ" if sex[i] else "Nam")
        for k, a in enumerate(answers[i]):
            sheet.write_string(r, 6 + k, SCALE[a - 1])
    book.close()


def write_codebook(path: Path) -> None:
    """The codebook of the benchmark's file: every rating under one of five factors."""
    import yaml

    factors = ["access", "procedure", "staff", "result", "feedback"]
    ratings: dict = {}
    for k in range(1, N_RATINGS + 1):
        ratings.setdefault(factors[(k - 1) % 5], {})[f"c{k}"] = f"Câu {k}: tiêu chí {k}"
    book = {"constants": {"year": 2024, "province": "Thái Nguyên"},
            "columns": {"respondent_id": "Mã phiếu", "unit": "Đơn vị được khảo sát",
                        "unit_type": "Loại đơn vị", "date": "Ngày khảo sát",
                        "sex": "Giới tính"},
            "scale": {label: (None if k == 6 else k) for k, label in enumerate(SCALE, 1)},
            "satisfied": [4, 5], "ratings": ratings}
    path.write_text(yaml.safe_dump(book, allow_unicode=True), encoding="utf-8")


def peak_gb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2  # kB on Linux


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def read_once(mode: str, path: str) -> None:
    """Child process: read the file one way, print wall and CPU seconds, shape and peak
    memory (CPU time does not grow when other jobs share the machine)."""
    import pandas as pd

    from sipas_analysis.readers import read_raw

    t, cpu = time.perf_counter(), cpu_seconds()     # imports are not timed
    if mode == "read_raw":
        shape = read_raw(path).frame.shape
    elif mode == "codebook":
        import sipas_analysis as sa
        shape = sa.load_survey(path, codebook=Path(path).with_suffix(".yaml")).shape
    else:
        shape = pd.read_excel(path, engine="openpyxl", header=3).shape
    print(f"{time.perf_counter() - t:.3f} {cpu_seconds() - cpu:.3f} {shape[0]} {shape[1]} "
          f"{peak_gb():.3f}")


def main(n: int = 200_000) -> None:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "survey.xlsx"
        t = time.perf_counter()
        write(path, n)
        write_codebook(path.with_suffix(".yaml"))
        print(f"wrote {n:,} respondents x 40 columns in {time.perf_counter() - t:.1f} s "
              f"({path.stat().st_size / 1024**2:.1f} MB)")
        wall, cpu = {}, {}
        for mode in ("read_raw", "codebook", "openpyxl"):
            out = subprocess.run([sys.executable, __file__, "--child", mode, str(path)],
                                 capture_output=True, text=True, check=True).stdout.split()
            wall[mode], cpu[mode] = float(out[0]), float(out[1])
            rows, cols, peak = int(out[2]), int(out[3]), float(out[4])
            label = {"read_raw": "readers.read_raw (python-calamine)",
                     "codebook": "read and validated (load_survey+codebook)",
                     "openpyxl": "pandas.read_excel (openpyxl)"}[mode]
            print(f"{label:<42} {wall[mode]:8.2f} s ({cpu[mode]:.2f} CPU-s)   {rows:,} x {cols}"
                  f"   peak {peak:5.2f} GB")
        print(f"{'speed-up, reading':<36} {wall['openpyxl'] / wall['read_raw']:8.1f} x wall, "
              f"{cpu['openpyxl'] / cpu['read_raw']:.1f} x CPU")
        print(f"{'speed-up, read and validated':<36} "
              f"{wall['openpyxl'] / wall['codebook']:8.1f} x wall, "
              f"{cpu['openpyxl'] / cpu['codebook']:.1f} x CPU   (target >= 5 x)")


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        read_once(sys.argv[2], sys.argv[3])
    else:
        main(int(sys.argv[1]) if len(sys.argv) > 1 else 200_000)
