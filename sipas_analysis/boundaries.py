"""Province boundaries: the 63 provinces of geoBoundaries' VNM ADM1 file joined to GSO codes,
simplified once for drawing, and dissolved into the 34 units of 1 July 2025.

The file (``data/boundaries/``, CC BY-SA 4.0; see ``data/boundaries/SOURCES.md``) names its
features without diacritics ("Thua Thien - Hue", "TP. Ho Chi Minh") and codes them by
ISO 3166-2 (``VN-44``), not by GSO code, so each feature is joined by its name through
:func:`sipas_analysis.reference.normalise_province`; the join must give each of the 63 provinces
exactly one feature, or loading stops with an error naming what failed.

Geometries for drawing are simplified as one coverage (``shapely.coverage_simplify``: each
border shared by two provinces is simplified once, so no gap or overlap opens between them) and
no ring is dropped, so every island is kept. The 34 units are the unions of their former
provinces' simplified shapes (:func:`reference.crosswalk_2025`: the merger joined whole
provinces), so the two maps share every border. Both are adaptations of the CC BY-SA data and
say so in the attribution the maps carry.

The Hoàng Sa (Paracel) and Trường Sa (Spratly) archipelagos are part of Đà Nẵng's and
Khánh Hòa's features in the file; :func:`archipelagos` picks their parts out for labelling.

Geometry only: drawing is :func:`sipas_analysis.plots.plot_province_map`.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
import pandas as pd
import shapely
from shapely.geometry import shape

from . import reference
from .resources import data_dir

__all__ = ["BOUNDARY_FILE", "TOLERANCE", "Archipelago", "archipelagos", "boundary_table",
           "province_shapes"]

BOUNDARY_FILE = Path("boundaries") / "geoBoundaries-VNM-ADM1_simplified.geojson"
# Simplification tolerance in degrees (about 2 km): below a line's width on a page-wide map
# of the country, and it cuts the 31,000 vertices of the file to about 7,500.
TOLERANCE = 0.02


@dataclass(frozen=True)
class Archipelago:
    """An archipelago inside a province's feature: ``key`` ("hoang_sa", "truong_sa"), the GSO
    code of the province (of ``unit_set``) that holds it, and its islands' geometry."""

    key: str
    province_code: str
    geometry: object

    @property
    def bounds(self) -> tuple[float, float, float, float]:
        return tuple(float(b) for b in self.geometry.bounds)


# Which parts of a 63-set feature are the archipelago: Đà Nẵng's parts east of 110° E (its
# coast is at 108.3° E); Khánh Hòa's parts east of 110° E or south of 11° N (its mainland and
# coastal islands lie west of 109.5° E and north of 11.7° N; the southernmost banks of Trường Sa
# are near 109° E, 7-8° N).
_ARCHIPELAGO_PARTS = {
    "hoang_sa": ("48", lambda centroid: centroid.x > 110.0),
    "truong_sa": ("56", lambda centroid: centroid.x > 110.0 or centroid.y < 11.0),
}


@lru_cache(maxsize=4)
def _features(folder: str) -> tuple[pd.DataFrame, tuple]:
    """The file's 63 features joined to GSO codes (in GSO code order) and their geometries."""
    path = Path(folder) / BOUNDARY_FILE
    with open(path, encoding="utf-8") as handle:
        collection = json.load(handle)
    rows, failed = [], []
    for number, feature in enumerate(collection["features"], start=1):
        props = feature["properties"]
        try:
            code = reference.normalise_province(props["shapeName"], unit_set="63")
        except reference.UnknownProvinceError as error:
            failed.append(f"feature {number} {props['shapeName']!r}: {error}")
            continue
        rows.append({"province_code": code, "shape_name": props["shapeName"],
                     "shape_iso": props["shapeISO"], "shape_id": props["shapeID"],
                     "geometry": shape(feature["geometry"])})
    table = pd.DataFrame(rows)
    expected = set(reference.provinces("63")["province_code"])
    repeated = sorted(table.loc[table["province_code"].duplicated(keep=False),
                                "shape_name"]) if len(table) else []
    absent = sorted(expected - set(table.get("province_code", [])))
    if failed or repeated or absent:
        raise ValueError(f"{path}: the features do not join one-to-one to the 63 provinces: "
                         + "; ".join(failed + [f"features {repeated} resolve to one province"]
                                     * bool(repeated) + [f"no feature for {absent}"]
                                     * bool(absent)))
    table = table.sort_values("province_code", kind="stable").reset_index(drop=True)
    return table.drop(columns="geometry"), tuple(table["geometry"])


def boundary_table() -> pd.DataFrame:
    """The join of the boundary file to the provinces: one row per feature, in GSO code order,
    with ``province_code`` (GSO), ``name_vi``, ``shape_name``, ``shape_iso``, ``shape_id``.

    Examples
    --------
    >>> table = boundary_table()
    >>> len(table), table["province_code"].is_unique
    (63, True)
    >>> table.loc[table.province_code == "46", ["name_vi", "shape_name", "shape_iso"]]
    ... # doctest: +NORMALIZE_WHITESPACE
               name_vi        shape_name shape_iso
    30  Thừa Thiên Huế  Thua Thien - Hue     VN-26
    """
    table, _ = _features(str(data_dir()))
    names = reference.provinces("63").set_index("province_code")["name_vi"]
    out = table.copy()
    out.insert(1, "name_vi", out["province_code"].map(names))
    return out


@lru_cache(maxsize=8)
def _shapes(folder: str, unit_set: str, simplified: bool) -> tuple[tuple[str, object], ...]:
    table, geometries = _features(folder)
    codes = table["province_code"].tolist()
    if simplified:
        geometries = tuple(shapely.coverage_simplify(np.array(geometries, dtype=object),
                                                     TOLERANCE))
    if unit_set == "63":
        return tuple(zip(codes, geometries))
    by_code = dict(zip(codes, geometries))
    crosswalk = reference.crosswalk_2025()
    out = []
    for code34, rows in crosswalk.groupby("province_code_34", sort=True):
        out.append((code34, shapely.union_all([by_code[c] for c in rows["province_code_63"]])))
    return tuple(out)


def province_shapes(unit_set: str = "63", *, simplified: bool = True) -> dict:
    """The shape of every unit of ``unit_set``: GSO code -> shapely (Multi)Polygon in degrees
    (longitude, latitude), in code order.

    ``simplified=True`` (the default, for drawing) gives the coverage simplified at
    :data:`TOLERANCE`; ``False`` the file's own geometry. A "34" unit is the union of its former
    provinces' shapes (simplified or not alike). Computed once per process.

    Examples
    --------
    >>> shapes = province_shapes("34")
    >>> len(shapes), shapes["79"].geom_type
    (34, 'MultiPolygon')
    """
    unit_set = str(unit_set)
    if unit_set not in reference.UNIT_SETS:
        raise ValueError(f"unit_set must be one of {reference.UNIT_SETS}, got {unit_set!r}")
    return dict(_shapes(str(data_dir()), unit_set, bool(simplified)))


def archipelagos(unit_set: str = "63", *, simplified: bool = True) -> list[Archipelago]:
    """Hoàng Sa (in Đà Nẵng's feature) and Trường Sa (in Khánh Hòa's), with the unit of
    ``unit_set`` that holds each (Đà Nẵng "48" and Khánh Hòa "56" in both sets).

    Examples
    --------
    >>> [(a.key, a.province_code) for a in archipelagos("34")]
    [('hoang_sa', '48'), ('truong_sa', '56')]
    """
    shapes63 = province_shapes("63", simplified=simplified)
    to34 = reference.crosswalk_2025().set_index("province_code_63")["province_code_34"]
    out = []
    for key, (code63, inside) in _ARCHIPELAGO_PARTS.items():
        parts = [p for p in shapely.get_parts(shapes63[code63]) if inside(p.centroid)]
        code = code63 if str(unit_set) == "63" else to34[code63]
        out.append(Archipelago(key, code, shapely.MultiPolygon(parts)))
    return out
