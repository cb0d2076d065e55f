"""The declared split of public figures (configs/targets.yaml): calibration or validation.

A validation figure is an independent check only if no parameter is set from it, so no
parameter's comment may cite its source; where a parameter cites the same source for a
different figure (``shares_source``), the comment must not quote the validation figure's
numbers. Calibration targets must name parameters that exist and cite the target's source.
"""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd
import pytest
from conftest import make_config

from simmodel.assumptions import YamlKey, get_value, yaml_keys
from simmodel.experiments import validate
from simmodel.model import backcheck
from simmodel.outputs.results import METRICS
from simmodel.paths import CONFIG_DIR, REPO

CHECKS = validate.targets()


def _parameter_lines(paths: list[Path]) -> list[YamlKey]:
    """Every key line of these parameter files."""
    lines = []
    for path in paths:
        prefix = "" if path.parent.name in ("estate", "scenario", "scenarios") else path.parent.name
        lines += yaml_keys(path, prefix)
    return lines


def _cites(line: YamlKey) -> set[str]:
    """The source ids a parameter's comment cites."""
    return set(re.findall(r"\bS\d+\b", f"{line.comment} {line.continued}"))


def _numbers(text: str) -> set[str]:
    """The figures quoted in a text (years and one- or two-digit numbers left out)."""
    found = set(re.findall(r"\d[\d,.]*\d|\d", text))
    return {
        n
        for n in found
        if len(n.replace(",", "").replace(".", "")) >= 2 and not re.fullmatch(r"(19|20)\d\d", n)
    }


def _sources(check: validate.Check) -> set[str]:
    return set(re.findall(r"S\d+", check.source))


#: Every file that sets parameters: config groups, scenarios, estates, funding options.
LINES = _parameter_lines(sorted(CONFIG_DIR.glob("*/*.yaml")) + sorted((REPO / "scenarios").glob("*.yaml")))
#: The files of the run the figures are compared with (validate.py: national, baseline, status quo):
#: a validation figure may inform another scenario (the 2008 back-check), not this run.
VALIDATED_RUN = _parameter_lines(
    [
        p
        for p in sorted(CONFIG_DIR.glob("*/*.yaml"))
        if p.stem in ("default", "national", "baseline", "status_quo")
    ]
)


def test_the_split_is_declared_and_both_groups_exist() -> None:
    roles = {c.role for c in CHECKS}
    assert roles == {"calibration", "validation"}
    assert len({c.key for c in CHECKS}) == len(CHECKS)
    for check in CHECKS:
        assert check.low < check.high, check.key
        assert check.tolerance and check.figure and _sources(check), check.key


@pytest.mark.parametrize("check", [c for c in CHECKS if c.role == "validation"], ids=lambda c: c.key)
def test_no_parameter_is_set_from_a_validation_figure(check: validate.Check) -> None:
    citing = [line for line in VALIDATED_RUN if _cites(line) & _sources(check)]
    if not check.shares_source:
        assert not citing, f"{check.key}: cited by {[line.dotted for line in citing]}: declare it calibration"
        return
    # the same source for another figure: the comment must not quote this figure's numbers
    numbers = _numbers(check.figure)
    for line in citing:
        quoted = numbers & _numbers(f"{line.comment} {line.continued}")
        assert not quoted, f"{line.dotted} quotes {sorted(quoted)} of the validation figure {check.key}"


@pytest.mark.parametrize("check", [c for c in CHECKS if c.role == "calibration"], ids=lambda c: c.key)
def test_calibration_targets_name_parameters_that_cite_them(check: validate.Check) -> None:
    cfg = make_config()
    assert check.parameters, check.key
    for key in check.parameters:
        get_value(cfg, key)  # KeyError if the parameter does not exist
    below = [line for line in LINES if any(line.dotted.startswith(p) for p in check.parameters)]
    assert any(_cites(line) & _sources(check) for line in below), (
        f"{check.key}: none of {check.parameters} cites {check.source}"
    )


def test_every_quantity_reads_summary_metrics() -> None:
    names = {m.name for m in METRICS} | {"prisons", *validate.TYPE_QUANTITIES}
    names |= {f"backcheck:{p.date} {p.group}" for p in backcheck.POINTS}
    names |= {f"backcheck:{name}" for name in backcheck.RATIO_NAMES}
    for check in CHECKS:
        for metric in filter(None, (check.metric, check.minus, check.per)):
            assert metric in names, f"{check.key}: {metric}"


def test_evaluate_flags_values_outside_the_range_and_counts_each_group() -> None:
    summary = pd.DataFrame({"metric": [m.name for m in METRICS], "mean": [1.0] * len(METRICS)})
    population = next(c for c in CHECKS if c.key == "population")
    summary.loc[summary["metric"] == "population", "mean"] = population.high * 2
    table = validate.evaluate(summary, prisons=120)
    assert not table.set_index("key").loc["population", "passed"]
    summary.loc[summary["metric"] == "population", "mean"] = (population.low + population.high) / 2
    table = validate.evaluate(summary, prisons=120)
    assert table.set_index("key").loc["population", "passed"]
    line = validate.headline(table)
    v, c = (table["role"] == "validation").sum(), (table["role"] == "calibration").sum()
    assert re.fullmatch(
        rf"\*\*\d+ of {v} independent checks pass; \d+ of {c} calibration targets met\.\*\*", line
    )


def test_validation_doc_begins_with_the_headline() -> None:
    text = (Path(validate.DOCS) / "validation.md").read_text(encoding="utf-8")
    first = next(line for line in text.splitlines()[1:] if line.strip())
    assert re.fullmatch(
        r"\*\*\d+ of \d+ independent checks pass; \d+ of \d+ calibration targets met\.\*\*", first
    )


def test_back_check_figures_are_the_back_check_design_s_points_and_tolerances() -> None:
    """A back-check figure's range is the published count and the tolerance that
    docs/design/ageing.md section 7 declared (simmodel/model/backcheck.py holds both), and only
    out-of-sample points are independent checks."""
    points = {f"backcheck:{p.date} {p.group}": p for p in backcheck.POINTS}
    counted = [c for c in CHECKS if c.metric in points]
    assert len(counted) >= 8
    for check in counted:
        point = points[check.metric]
        assert check.role == "validation" and point.role == "out of sample", check.key
        assert point.source in check.source or check.source in point.source, check.key
        assert check.low == pytest.approx(point.published * (1 - point.tolerance), abs=0.1), check.key
        assert check.high == pytest.approx(point.published * (1 + point.tolerance), abs=0.1), check.key
    growth = next(c for c in CHECKS if c.metric == "backcheck:75+ Mar 2010 -> Mar 2014")
    assert (growth.low, growth.high) == backcheck.RATIO_75_PLUS[1:]
