"""The province map: the boundary file joined to the provinces, the 34 units dissolved from the
63, and the figure tested by what it draws (patches, colours, hatching, legend, texts) and by
the SVG it renders."""
from __future__ import annotations

import re
import time

import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402
import shapely  # noqa: E402
from matplotlib.colors import to_hex, to_rgba  # noqa: E402

from sipas_analysis import boundaries, plots, reference, resources, schema  # noqa: E402

# A missing glyph (a Vietnamese letter the font lacks) is a warning at draw time: fail on it.
pytestmark = pytest.mark.filterwarnings("error")


def table(unit_set="63", *, seed=1, drop=()):
    """An index of every unit (minus ``drop``), with quartile groups and group probabilities:
    units in code order, the first quarter certain, the rest not."""
    codes = [c for c in reference.provinces(unit_set)["province_code"] if c not in drop]
    n = len(codes)
    rng = np.random.default_rng(seed)
    estimate = rng.normal(85, 3, n)
    rank = (-estimate).argsort().argsort() + 1
    out = pd.DataFrame({"unit_set": unit_set, "province_code": codes, "estimate": estimate,
                        "rank": rank, "quartile_group": np.ceil(rank * 4 / n).astype(int)})
    probabilities = np.zeros((n, 4))
    probabilities[np.arange(n), out["quartile_group"] - 1] = 1.0
    uncertain = np.arange(n) >= n // 4
    probabilities[uncertain] = [0.5, 0.3, 0.2, 0.0]
    for g in range(4):
        out[f"p_group_{g + 1}"] = probabilities[:, g]
    return out


def draw(data, **options):
    figure, ax = plots.new_figure((6, 6.6))
    plots.plot_province_map(data, ax=ax, **options)
    return figure, ax


def units(ax) -> dict:
    """gid code -> patch of each unit drawn."""
    return {p.get_gid()[len(plots.MAP_UNIT_GID):]: p for p in ax.patches
            if (p.get_gid() or "").startswith(plots.MAP_UNIT_GID)}


def legend_text(ax) -> list[str]:
    legend = ax.get_legend()
    return [] if legend is None else [t.get_text() for t in legend.get_texts()]


def texts(ax, gid) -> list[str]:
    return [t.get_text() for t in ax.texts if t.get_gid() == gid]


# --------------------------------------------------------------------------------------------
# The data
# --------------------------------------------------------------------------------------------
def test_every_feature_joins_to_one_province_through_normalise_province():
    joined = boundaries.boundary_table()
    provinces = reference.provinces("63")
    assert len(joined) == 63 and joined["province_code"].is_unique
    assert set(joined["province_code"]) == set(provinces["province_code"])
    assert joined["shape_iso"].is_unique and joined["shape_name"].is_unique
    # the join is by name: each feature's name resolves to its own code, not via the ISO code
    for name, code in zip(joined["shape_name"], joined["province_code"]):
        assert reference.normalise_province(name) == code
    named = joined.set_index("province_code")
    assert named.loc["46", "shape_name"] == "Thua Thien - Hue"
    assert named.loc["79", "shape_name"] == "TP. Ho Chi Minh"
    assert named.loc["79", "name_vi"] == "Hồ Chí Minh"
    # ISO 3166-2 and GSO codes differ: a join on the code digits would have been wrong
    assert named.loc["01", "shape_iso"] == "VN-HN" and named.loc["44", "shape_iso"] != "VN-44"


def test_a_feature_that_does_not_resolve_is_named(tmp_path, monkeypatch):
    import json
    import shutil
    source = resources.data_dir()
    copy = tmp_path / "data"
    shutil.copytree(source / "reference", copy / "reference")
    (copy / "boundaries").mkdir()
    raw = json.loads((source / boundaries.BOUNDARY_FILE).read_text(encoding="utf-8"))
    raw["features"][0]["properties"]["shapeName"] = "Atlantis"
    raw["features"][1]["properties"]["shapeName"] = "Ha Noi"   # a second Hà Nội
    (copy / boundaries.BOUNDARY_FILE).write_text(json.dumps(raw), encoding="utf-8")
    monkeypatch.setenv(resources.DATA_DIR_ENV, str(copy))
    with pytest.raises(ValueError) as error:
        boundaries.boundary_table()
    message = str(error.value)
    assert "'Atlantis'" in message and "feature 1" in message
    assert "features ['Ha Noi', 'Ha Noi'] resolve to one province" in message
    assert "no feature for ['77', '89']" in message  # An Giang is GSO 89, ISO VN-44


def test_the_data_file_is_the_one_its_sources_describe():
    import hashlib
    path = resources.data_dir() / boundaries.BOUNDARY_FILE
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    sources = (path.parent / "SOURCES.md").read_text(encoding="utf-8")
    assert digest in sources and "CC BY-SA 4.0" in sources
    if resources.checkout() is not None:  # and a wheel carries them
        packaged = {relative.as_posix()
                    for _, relative in resources.packaged_files(resources.checkout())}
        assert f"data/{boundaries.BOUNDARY_FILE.as_posix()}" in packaged
        assert "data/boundaries/SOURCES.md" in packaged


def test_every_34_unit_is_the_union_of_its_former_provinces():
    crosswalk = reference.crosswalk_2025()
    for simplified in (False, True):
        shapes63 = boundaries.province_shapes("63", simplified=simplified)
        shapes34 = boundaries.province_shapes("34", simplified=simplified)
        assert sorted(shapes34) == sorted(reference.provinces("34")["province_code"])
        for code34, rows in crosswalk.groupby("province_code_34"):
            union = shapely.union_all([shapes63[c] for c in rows["province_code_63"]])
            difference = shapely.symmetric_difference(shapes34[code34], union).area
            assert difference <= 1e-9 * union.area, (code34, difference)
        # together they cover the same country, without overlaps
        total63 = sum(g.area for g in shapes63.values())
        total34 = sum(g.area for g in shapes34.values())
        assert total34 == pytest.approx(total63, rel=1e-9)
    raw = boundaries.province_shapes("34", simplified=False)
    drawn = boundaries.province_shapes("34")
    for code in raw:  # the drawn shape stays within the tolerance of the file's
        assert shapely.hausdorff_distance(raw[code], drawn[code]) < 5 * boundaries.TOLERANCE


def test_simplification_keeps_every_island_and_shares_borders():
    raw = boundaries.province_shapes("63", simplified=False)
    drawn = boundaries.province_shapes("63")
    for code in raw:
        assert shapely.get_num_geometries(drawn[code]) == shapely.get_num_geometries(raw[code])
    assert shapely.coverage_is_valid(np.array(list(drawn.values()), dtype=object))
    assert sum(shapely.get_num_coordinates(g) for g in drawn.values()) < 0.35 * sum(
        shapely.get_num_coordinates(g) for g in raw.values())


def test_the_archipelagos_are_inside_da_nang_and_khanh_hoa():
    shapes = boundaries.province_shapes("63", simplified=False)
    hoang_sa, truong_sa = boundaries.archipelagos("63", simplified=False)
    assert (hoang_sa.key, hoang_sa.province_code) == ("hoang_sa", "48")
    assert (truong_sa.key, truong_sa.province_code) == ("truong_sa", "56")
    # Paracels about 111-113° E, 15.7-17.1° N; Spratlys 111.5-117° E down to 7° N
    x0, y0, x1, y1 = hoang_sa.bounds
    assert 111 < x0 and x1 < 113 and 15.5 < y0 and y1 < 17.5
    x0, y0, x1, y1 = truong_sa.bounds
    assert x1 > 116 and y0 < 7.5 and y1 < 12.5
    assert shapes["48"].contains(hoang_sa.geometry) and shapes["56"].contains(truong_sa.geometry)
    assert len(hoang_sa.geometry.geoms) > 10 and len(truong_sa.geometry.geoms) > 100
    # no other feature reaches the East Sea archipelagos
    for code, geometry in shapes.items():
        if code not in ("48", "56"):
            assert geometry.bounds[2] < 110, code
    assert [(a.key, a.province_code) for a in boundaries.archipelagos("34")] == [
        ("hoang_sa", "48"), ("truong_sa", "56")]


# --------------------------------------------------------------------------------------------
# The figure
# --------------------------------------------------------------------------------------------
@pytest.mark.parametrize("unit_set,n", [("63", 63), ("34", 34)])
def test_every_unit_is_drawn_once_in_its_colour(unit_set, n):
    data = table(unit_set)
    _, ax = draw(data, unit_set=unit_set)
    drawn = units(ax)
    gids = [p.get_gid() for p in ax.patches
            if (p.get_gid() or "").startswith(plots.MAP_UNIT_GID)]
    assert len(gids) == len(set(gids)) == n
    assert sorted(drawn) == sorted(reference.provinces(unit_set)["province_code"])
    # the darker the colour, the higher the value (YlGnBu): darkest is the highest estimate
    lightness = {c: sum(p.get_facecolor()[:3]) for c, p in drawn.items()}
    by_value = data.set_index("province_code")["estimate"]
    assert min(lightness, key=lightness.get) == by_value.idxmax()
    assert max(lightness, key=lightness.get) == by_value.idxmin()


def test_groups_are_coloured_with_the_papi_legend_in_both_languages():
    data = table()
    _, ax = draw(data, groups="quartile_group", lang="vi")
    drawn = units(ax)
    for code, group in zip(data["province_code"], data["quartile_group"]):
        assert to_hex(drawn[code].get_facecolor()) == plots.MAP_GROUP_COLOURS[group - 1]
    legend = legend_text(ax)
    assert legend[:4] == ["Nhóm cao nhất", "Nhóm trung bình cao", "Nhóm trung bình thấp",
                          "Nhóm thấp nhất"]
    _, ax = draw(data, groups="quartile_group", lang="en")
    assert legend_text(ax)[:4] == ["Best performing", "High average", "Low average",
                                   "Poor performing"]
    assert "Rank groups" in ax.get_title()


def test_uncertain_groups_are_hatched_by_the_probability_rule():
    data = table()
    # on the threshold (0.8) is certain; below it is not
    data.loc[0, ["p_group_1", "p_group_2", "p_group_3", "p_group_4"]] = [0.8, 0.2, 0, 0]
    data.loc[1, ["p_group_1", "p_group_2", "p_group_3", "p_group_4"]] = [0.79, 0.21, 0, 0]
    _, ax = draw(data, groups="quartile_group", lang="en")
    drawn = units(ax)
    largest = data.set_index("province_code")[[f"p_group_{g}" for g in range(1, 5)]].max(axis=1)
    for code, patch in drawn.items():
        assert bool(patch.get_hatch()) == (largest[code] < 0.8), code
    assert not drawn[data.loc[0, "province_code"]].get_hatch()
    assert drawn[data.loc[1, "province_code"]].get_hatch()
    assert any("no group has a probability" in t and "80 %" in t for t in legend_text(ax))
    _, ax = draw(data, groups="quartile_group", lang="vi")
    assert any("xác suất" in t and "80 %" in t for t in legend_text(ax))


def test_without_probabilities_a_rank_set_across_groups_is_hatched():
    codes = reference.provinces("63")["province_code"].tolist()[:8]
    # 8 ranked units: groups of two ranks each (1-2, 3-4, 5-6, 7-8)
    data = pd.DataFrame({"province_code": codes, "estimate": np.arange(8.0),
                         "quartile_group": [1, 1, 2, 2, 3, 3, 4, 4],
                         "rank_low": [1, 1, 3, 3, 5, 4, 7, 7],
                         "rank_high": [2, 3, 4, 4, 6, 6, 8, 8]})
    _, ax = draw(data, groups="quartile_group", lang="en")
    drawn = units(ax)
    assert [bool(drawn[c].get_hatch()) for c in codes] == [False, True, False, False, False,
                                                           True, False, False]
    assert any("rank set spans" in t for t in legend_text(ax))
    # no uncertainty columns: nothing hatched, no hatching in the legend
    _, ax = draw(data.drop(columns=["rank_low", "rank_high"]), groups="quartile_group",
                 lang="en")
    assert not any(p.get_hatch() for p in units(ax).values())
    assert not any("Hatched" in t for t in legend_text(ax))


def test_units_without_data_are_grey_and_said_so():
    data = table(drop=("01", "79"))
    data.loc[data["province_code"] == "48", "estimate"] = np.nan
    _, ax = draw(data, lang="en")
    drawn = units(ax)
    for code in ("01", "79", "48"):
        assert drawn[code].get_facecolor() == to_rgba(plots.MAP_NO_DATA)
    assert drawn["92"].get_facecolor() != to_rgba(plots.MAP_NO_DATA)
    assert "No data" in legend_text(ax)


def test_the_highlighted_unit_is_outlined_bold():
    _, ax = draw(table(), highlight="79")
    outline = [p for p in ax.patches if p.get_gid() == plots.MAP_HIGHLIGHT_GID]
    assert len(outline) == 1
    (patch,) = outline
    assert patch.get_linewidth() > 3 * units(ax)["79"].get_linewidth()
    assert patch.get_path() is units(ax)["79"].get_path()
    _, ax = draw(table(), highlight=1)  # a code read as a number
    (patch,) = [p for p in ax.patches if p.get_gid() == plots.MAP_HIGHLIGHT_GID]
    assert patch.get_path() is units(ax)["01"].get_path()
    _, ax = draw(table())
    assert not [p for p in ax.patches if p.get_gid() == plots.MAP_HIGHLIGHT_GID]


@pytest.mark.parametrize("lang,hoang_sa,truong_sa,attribution", [
    ("vi", "Quần đảo Hoàng Sa (Đà Nẵng)", "Quần đảo Trường Sa (Khánh Hòa)", "Ranh giới"),
    ("en", "Hoang Sa (Paracel) Islands (Đà Nẵng)", "Truong Sa (Spratly) Islands (Khánh Hòa)",
     "Boundaries"),
])
def test_archipelagos_and_attribution_are_in_the_svg(lang, hoang_sa, truong_sa, attribution):
    for unit_set in ("63", "34"):
        figure, ax = draw(table(unit_set), unit_set=unit_set, lang=lang)
        assert texts(ax, plots.MAP_LABEL_GID) == [hoang_sa, truong_sa]
        svg = str(plots.render(figure))
        assert hoang_sa in svg and truong_sa in svg
        written = " ".join(texts(ax, plots.MAP_ATTRIBUTION_GID))
        assert written.startswith(attribution)
        assert "geoBoundaries" in written and "CC BY-SA 4.0" in written and written in svg
        assert ("34" in written) == (unit_set == "34")  # the dissolving is said
        # the archipelagos are inside the map's frame
        x_low, x_high = ax.get_xlim()
        y_low, y_high = ax.get_ylim()
        assert x_low < 111 and x_high > 117 and y_low < 6.9 and y_high > 23.4


def test_the_colorbar_speaks_the_language():
    figure, ax = draw(table(), lang="vi")
    figure.canvas.draw()
    (bar,) = ax.child_axes
    assert bar.get_xlabel() == "Tỷ lệ hài lòng (%)"
    ticks = [t.get_text() for t in bar.get_xticklabels() if t.get_text()]
    assert ticks and all("." not in t for t in ticks)
    figure, ax = draw(table().assign(estimate=lambda t: t["estimate"] / 100), lang="en",
                      label="Share")
    figure.canvas.draw()
    (bar,) = ax.child_axes
    assert bar.get_xlabel() == "Share"
    assert any("." in t.get_text() for t in bar.get_xticklabels())


def test_the_svg_is_byte_stable_and_fast():
    data = table()
    svgs, times = [], []
    for _ in range(3):
        started = time.perf_counter()
        figure, _ = draw(data, groups="quartile_group", highlight="01")
        svgs.append(str(plots.render(figure)))
        times.append(time.perf_counter() - started)
    assert svgs[0] == svgs[1] == svgs[2]
    assert len(re.findall(r'<g id="province-\d\d"', svgs[0])) == 63
    assert min(times) < 1.0, times
    other, _ = draw(data.assign(quartile_group=data["quartile_group"].iloc[::-1].to_numpy()),
                    groups="quartile_group", highlight="01")
    assert str(plots.render(other)) != svgs[0]


# --------------------------------------------------------------------------------------------
# Bad input
# --------------------------------------------------------------------------------------------
def test_a_missing_column_is_named():
    with pytest.raises(schema.MissingColumnError) as error:
        draw(table().drop(columns="estimate"))
    assert error.value.columns == ["estimate"]
    with pytest.raises(schema.MissingColumnError, match="quartile"):
        draw(table(), groups="quartile")


def test_unknown_codes_are_named():
    data = table()
    data.loc[0, "province_code"] = "99"
    data.loc[1, "province_code"] = "Atlantis"
    with pytest.raises(ValueError, match=r"\['99', 'Atlantis'\].*unit_set '63'"):
        draw(data)
    # a 63-set code that is no 34-set unit ("02" Hà Giang became part of Tuyên Quang)
    with pytest.raises(ValueError, match=r"\['02', '06', '10',.* not units of unit_set '34'"):
        draw(table("63").assign(unit_set="34"), unit_set="34")
    with pytest.raises(ValueError, match="highlight '02'"):
        draw(table("34"), unit_set="34", highlight="02")
    with pytest.raises(ValueError, match="unit_set must be"):
        draw(table(), unit_set="64")


def test_other_bad_input():
    data = table()
    with pytest.raises(ValueError, match=r"several rows.*'01'"):
        draw(pd.concat([data, data.iloc[:1]]))
    bad = data.assign(quartile_group=data["quartile_group"].astype(float))
    bad.loc[bad["province_code"] == "04", "quartile_group"] = 5
    with pytest.raises(ValueError, match=r"rank groups 1-4.*\['04'\] have \[5.0\]"):
        draw(bad, groups="quartile_group")
    with pytest.raises(ValueError, match="no rows of unit_set '34'"):
        draw(data, unit_set="34")
    words = data.astype({"estimate": object})
    words.loc[0, "estimate"] = "high"
    with pytest.raises(ValueError, match=r"not a number for province\(s\) \['01'\]"):
        draw(words)
    with pytest.raises(TypeError, match="DataFrame"):
        draw([1, 2])


def test_the_index_page_shows_the_province_map():
    import base64
    import re
    from types import SimpleNamespace

    from sipas_analysis import reference
    from sipas_analysis.batch.run import _index_map
    from sipas_analysis.report.export import index_page

    codes = reference.provinces("63")["province_code"]
    ranks = pd.DataFrame({"province_code": codes, "estimate": np.linspace(80, 99, len(codes)),
                          "quartile_group": np.repeat([4, 3, 2, 1], 16)[:len(codes)]})
    shared = SimpleNamespace(ranks=ranks, unit_set="63", synthetic=True)
    svg = _index_map(shared, "vi")
    table = pd.DataFrame({"province_code": codes[:2], "estimate": [90.0, 91.0]})
    page = index_page(table, {}, year=2024, unit_set="63", lang="vi", synthetic=True,
                      footer="f", map_svg=svg)
    found = re.search(r'<figure class="map"><img src="data:image/svg\+xml;base64,([^"]+)" '
                      r'alt="([^"]+)">', page)
    assert found and found.group(2).startswith("Bản đồ các tỉnh")
    drawn = base64.b64decode(found.group(1)).decode("utf-8")
    assert "Hoàng Sa" in drawn and "geoBoundaries" in drawn
    # shared results without quartile groups (a stand-in, one unit): no map, no error
    assert _index_map(SimpleNamespace(ranks=ranks.drop(columns="quartile_group"),
                                      unit_set="63"), "vi") is None


# --------------------------------------------------------------------------------------------
# The map of a province's report
# --------------------------------------------------------------------------------------------
def _outline(svg: str, gid: str) -> set:
    """The points of the first path of the SVG group ``gid`` (a filled shape and its outline
    close their rings differently, so points, not path data, are compared)."""
    found = re.search(r'<g id="' + re.escape(gid) + r'">\s*<path d="([^"]+)"', svg)
    assert found, gid
    return set(re.findall(r"[ML] (\S+ \S+)", found.group(1)))


def test_several_highlights_are_outlined_each_with_its_own_gid():
    _, ax = draw(table(), groups="quartile_group", highlight=["79", 1])
    outlines = {p.get_gid(): p for p in ax.patches
                if (p.get_gid() or "").startswith(plots.MAP_HIGHLIGHT_GID)}
    assert set(outlines) == {"highlight-79", "highlight-01"}
    assert outlines["highlight-79"].get_path() is units(ax)["79"].get_path()
    with pytest.raises(ValueError, match=r"highlight '02', '99' are not units of unit_set '34'"):
        draw(table("34"), unit_set="34", highlight=["01", "02", "99"])


@pytest.mark.parametrize("unit_set,codes", [("63", ["01", "79", "96", "48"]),
                                            ("34", ["01", "79", "48"])])
def test_a_reports_map_is_cut_from_one_drawing_and_is_the_unit_drawn_alone(unit_set, codes):
    """Each unit's map is cut from one drawing of every outline: byte for byte the drawing of
    that unit's map alone (what rendering the figure's builder gives), the unit outlined and
    no other, the same bytes again after the drawing is made anew."""
    from types import SimpleNamespace

    from sipas_analysis import report
    from sipas_analysis.report import figures

    shared = SimpleNamespace(ranks=table(unit_set), unit_set=unit_set, synthetic=True)
    maps = {}
    for code in codes:
        params = report.ReportParams(province_code=code, year=2024, unit_set=unit_set)
        cut = report.figure("map", shared, params).svg
        alone = figures._draw(report.FIGURES["map"], shared, params).svg
        assert cut == alone, code
        assert cut.count('<g id="highlight') == 1
        assert _outline(cut, plots.MAP_HIGHLIGHT_GID) == _outline(cut, f"province-{code}")
        assert "geoBoundaries" in cut and "Gạch chéo" in cut   # attribution, hatching rule
        assert "Dữ liệu mô phỏng" in cut                        # synthetic data say so
        maps[code] = cut
    assert len(set(maps.values())) == len(codes)
    figures._MAPS.clear()
    code = codes[0]
    params = report.ReportParams(province_code=code, year=2024, unit_set=unit_set)
    assert report.figure("map", shared, params).svg == maps[code]
    # the ranks (what the map colours) changed: a new drawing
    other = SimpleNamespace(ranks=table(unit_set, seed=2), unit_set=unit_set, synthetic=True)
    assert report.figure("map", other, params).svg != maps[code]


def test_cutting_a_units_map_is_much_faster_than_drawing_it():
    from types import SimpleNamespace

    from sipas_analysis import report
    from sipas_analysis.report import figures

    shared = SimpleNamespace(ranks=table(), unit_set="63", synthetic=False)
    first = report.ReportParams(province_code="01", year=2024)
    report.figure("map", shared, first)   # the drawing of every outline, once
    started = time.perf_counter()
    for code in ["79", "48", "31", "92", "96"]:
        report.figure("map", shared, report.ReportParams(province_code=code, year=2024))
    cut = (time.perf_counter() - started) / 5
    started = time.perf_counter()
    figures._draw(report.FIGURES["map"], shared, first)
    drawn = time.perf_counter() - started
    assert cut < drawn / 3, (cut, drawn)
