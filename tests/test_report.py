"""Reports: report.html (self-contained, checked in a real headless browser) and results.xlsx."""

from __future__ import annotations

import math
import os
import re
import shutil
import sys
from pathlib import Path

import numpy as np
import openpyxl
import pandas as pd
import pytest
from hydra.core.global_hydra import GlobalHydra

from simmodel.cli import main
from simmodel.experiments import collate
from simmodel.outputs import dictionary, report, results

#: In CI the browser must be there (.ci/run installs it); elsewhere the browser test skips.
REQUIRE_BROWSER = os.environ.get("SIMMODEL_REQUIRE_BROWSER") == "1"
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")
CHROMEDRIVER = shutil.which("chromedriver")


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A short two-replication run of the single-prison estate, through the command line."""
    folder = tmp_path_factory.mktemp("report") / "run"
    argv = sys.argv
    try:
        code = main(
            [
                "estate=single_prison",
                "run.years=0.5",
                "run.warmup_years=0",
                "run.replications=2",
                f"hydra.run.dir={folder}",
            ]
        )
    finally:
        sys.argv = argv
        GlobalHydra.instance().clear()
    assert code == 0
    return folder


def test_report_is_self_contained(run_dir: Path) -> None:
    text = (run_dir / "report.html").read_text(encoding="utf-8")
    assert "<script" not in text, "no scripts: the report must open anywhere"
    sources = re.findall(r'(?:src|href)="([^"]+)"', text)
    assert sources, "the report has images"
    assert all(s.startswith("data:image/png;base64,") for s in sources), "no files or network needed"
    assert len(re.findall(r"<img ", text)) >= 7, "one image per plot"


def test_report_states_the_run_and_how_to_reproduce_it(run_dir: Path) -> None:
    text = (run_dir / "report.html").read_text(encoding="utf-8")
    assert "python -m simmodel estate=single_prison run.years=0.5" in text
    assert "single_prison" in text and "2 replication(s)" in text
    assert "By prison type" in text
    # an assumption is listed with the value the run used
    assert "buddies.care_share_of_unlock" in text
    assert "The assumptions behind these results" in text
    # what the intervals cover, and the registry's range beside the value used
    assert "not uncertainty in the assumptions" in text
    assert "0.25 to 0.8, triangular" in text  # buddies.care_share_of_unlock


def test_headline_sentences_use_the_summary(run_dir: Path) -> None:
    summary = pd.read_csv(run_dir / "summary.csv")
    text = (run_dir / "report.html").read_text(encoding="utf-8")
    for metric, sentence in report.headline_sentences(summary):
        assert f'data-metric="{metric}">{sentence}</li>' in text


def test_workbook_has_summary_and_series_with_units(run_dir: Path) -> None:
    sheets = pd.read_excel(run_dir / "results.xlsx", sheet_name=None)
    assert set(sheets) == {"Summary", "Monthly series"}
    summary = pd.read_csv(run_dir / "summary.csv")
    assert list(sheets["Summary"]["Metric id"]) == list(summary["metric"])
    assert list(sheets["Summary"].columns[:4]) == ["Result", "Metric id", "Unit", "Mean"]
    assert "95% CI low" in sheets["Summary"] and "Replications" in sheets["Summary"]
    columns = list(sheets["Monthly series"].columns)
    assert "population (people)" in columns
    assert "np_unmet_hours (hours in the month)" in columns
    assert "cost_total (GBP in the month)" in columns
    # the CI columns the CSV has are there too
    assert "population_ci_low (people)" in columns and "cost_total_ci_high (GBP in the month)" in columns
    csv_columns = pd.read_csv(run_dir / "timeseries.csv").columns
    assert [c.split(" (")[0] for c in columns] == list(csv_columns)
    # the estate's rows only: each prison's are in the CSV
    estate = pd.read_csv(run_dir / "timeseries.csv").query("scope == 'estate'")
    assert len(sheets["Monthly series"]) == len(estate) > 0
    assert (sheets["Monthly series"]["scope"] == "estate").all()
    population = sheets["Monthly series"]["population (people)"].tolist()
    assert population == pytest.approx(estate["population"].tolist())


def test_workbook_is_formatted_for_people(run_dir: Path) -> None:
    book = openpyxl.load_workbook(run_dir / "results.xlsx")
    summary, series = book["Summary"], book["Monthly series"]
    assert summary.freeze_panes == "B2" and series.freeze_panes == "A2"
    assert summary["A1"].value == "Result" and summary["A1"].font.bold
    assert summary["A2"].value == "People in prison"  # the plain label beside the metric id
    assert summary["B2"].value == "population"
    rows = {summary.cell(row=r, column=2).value: r for r in range(2, summary.max_row + 1)}
    assert summary.cell(row=rows["population"], column=4).number_format == "#,##0"
    assert summary.cell(row=rows["need_prevalence"], column=4).number_format == "0.0%"
    assert "£" in summary.cell(row=rows["cost_total_per_year"], column=4).number_format
    headers = [c.value for c in series[1]]
    cost = headers.index("cost_total (GBP in the month)") + 1
    assert "£" in series.cell(row=2, column=cost).number_format
    assert series.cell(row=2, column=headers.index("population (people)") + 1).number_format.startswith(
        "#,##0"
    )
    assert all((summary.column_dimensions[letter].width or 0) >= 8 for letter in "ABCD")


def test_workbook_keeps_formula_like_text_as_text(tmp_path: Path) -> None:
    summary = pd.DataFrame(
        {"metric": ["population"], "unit": ["people"], "mean": [10.0], "ci_low": [9.0], "ci_high": [11.0]}
        | {"p5": [9.0], "p95": [11.0], "n": [2], "note": ["=1+1"]}
    )
    series = pd.DataFrame({"month": [1], "prison": ["=1+1"], "population": [10.0]})
    path = tmp_path / "book.xlsx"
    report.write_workbook(path, report.run_workbook_sheets(summary, series))
    book = openpyxl.load_workbook(path)
    note = book["Summary"].cell(row=2, column=list(report.SUMMARY_HEADERS).index("note") + 2)
    prison = book["Monthly series"]["B2"]
    for cell in (note, prison):
        assert cell.value == "=1+1" and cell.data_type == "s"


@pytest.mark.skipif(
    not (CHROMIUM and CHROMEDRIVER) and not REQUIRE_BROWSER,
    reason="Chromium and chromedriver not installed (.ci/run installs them)",
)
def test_report_renders_in_a_headless_browser(run_dir: Path) -> None:
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.common.by import By

    assert CHROMIUM and CHROMEDRIVER, "install chromium and chromium-driver"
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--window-size=1200,2000"):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    try:
        driver.get((run_dir / "report.html").as_uri())
        assert driver.title.startswith("simmodel report")
        errors = [e for e in driver.get_log("browser") if e["level"] == "SEVERE"]
        assert not errors, errors
        images = driver.find_elements(By.TAG_NAME, "img")
        assert len(images) >= 7
        for image in images:
            width, height, shown = driver.execute_script(
                "const r = arguments[0].getBoundingClientRect();"
                "return [arguments[0].naturalWidth, arguments[0].naturalHeight, r.width * r.height];",
                image,
            )
            assert width > 0 and height > 0 and shown > 0, "every image decodes and is displayed"
        summary = pd.read_csv(run_dir / "summary.csv").set_index("metric")
        for item in driver.find_elements(By.CSS_SELECTOR, "li[data-metric]"):
            row = summary.loc[item.get_attribute("data-metric")]
            shown_text = item.text
            assert report.format_number(row["mean"], row["unit"]) in shown_text
            assert report.format_number(row["ci_low"], row["unit"]) in shown_text
    finally:
        driver.quit()


TIDY = re.compile(r"[a-z][a-z0-9_]*")


def test_timeseries_column_names_are_tidy(run_dir: Path) -> None:
    """Only lowercase letters, digits and underscores: R, Excel and SQL keep every name."""
    columns = list(pd.read_csv(run_dir / "timeseries.csv").columns)
    assert [c for c in columns if not TIDY.fullmatch(c)] == []
    assert "population_70_plus" in columns and "population_18_20" in columns
    for table in ("summary.csv", "replications.csv"):
        assert all(TIDY.fullmatch(c) for c in pd.read_csv(run_dir / table).columns), table


def test_outputs_dictionary_is_up_to_date() -> None:
    """docs/outputs.md is generated (python -m simmodel.outputs.dictionary) and current."""
    assert dictionary.DOC.read_text(encoding="utf-8") == dictionary.render(), (
        "docs/outputs.md is stale: run python -m simmodel.outputs.dictionary"
    )
    assert dictionary.main(["--check"]) == 0


def test_outputs_dictionary_lists_every_column_and_metric(run_dir: Path) -> None:
    text = dictionary.DOC.read_text(encoding="utf-8")
    series = pd.read_csv(run_dir / "timeseries.csv").columns
    base = [c for c in series if not c.endswith(("_ci_low", "_ci_high"))]
    assert list(results.timeseries_columns()) == base, "every timeseries column is described, in order"
    assert all(
        f"{c}_ci_low" in series and f"{c}_ci_high" in series
        for c in base
        if c not in results.TIMESERIES_ID_COLUMNS
    )
    for column in base:
        assert f"| `{column}` |" in text, column
    for name in ("summary.csv", "replications.csv"):
        for column in pd.read_csv(run_dir / name).columns:
            assert f"| `{column}` |" in text, (name, column)
    assert list(pd.read_csv(run_dir / "summary.csv").columns) == list(dictionary.SUMMARY_COLUMNS)
    assert list(pd.read_csv(run_dir / "replications.csv").columns) == list(dictionary.REPLICATION_COLUMNS)
    for column in report.COMPARISON_COLUMNS:
        assert f"| `{column}` |" in text, column
    for metric in results.METRICS:
        assert f"| `{metric.name}` | {metric.unit} | {metric.label.strip()} |" in text, metric.name
    for metric in collate.COMPARISON_METRICS:
        assert f"- `{metric}`" in text


def test_report_names_the_number_of_prisons(run_dir: Path) -> None:
    text = (run_dir / "report.html").read_text(encoding="utf-8")
    assert "(1 prison)" in text and "1 prisons" not in text


def test_a_column_s_width_is_that_of_its_widest_number_as_shown() -> None:
    # _width (through _widest_number) formats the largest and the most negative number only;
    # compared here with formatting every number, on columns built to hit the edges: rounding
    # up to another digit (9.96 shows as 10.0), thousands separators, -0.0, infinities, NaN
    # and empty columns
    rng = np.random.default_rng(7)
    edges = [9.95, 9.96, 99.95, 999.96, 9_999.96, -0.0, 0.0, -0.04, 0.04, 1e15, -1e15, math.inf, -math.inf]
    columns = [np.array(edges), np.array([math.nan]), np.array([]), np.array([math.inf, 12_345.0])]
    columns += [np.array(c) for c in ([0.0, -0.0], [0.5, -math.inf], [math.inf], [-0.04, 0.5])]
    for _ in range(300):
        size = int(rng.integers(1, 40))
        scale = 10.0 ** rng.integers(-2, 9, size)
        values = rng.normal(size=size) * scale
        picked = rng.random(size) < 0.2
        values[picked] = rng.choice([*edges, math.nan], size=int(picked.sum()))
        columns.append(values)
    for values in columns:
        shown = [len(f"{v:,.1f}") for v in values if not math.isnan(v)]
        assert report._widest_number(values[~np.isnan(values)]) == max(shown, default=4), values
        frame = pd.DataFrame({"v": values})
        assert report._width(frame, "v") == min(max(*shown, 4, 6) + 2, 60), values
