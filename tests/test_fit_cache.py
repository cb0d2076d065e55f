"""Fits kept on disk between processes (simmodel/model/fit_cache.py): read back exactly, only
for the same inputs and code, and never trusted when a file is damaged or the folder is not
writable."""

from __future__ import annotations

import json
from dataclasses import fields, replace
from pathlib import Path

import numpy as np
import pytest
from conftest import make_config

from simmodel.model import fit_cache, flows


@pytest.fixture
def cache_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty cache folder, and no fits remembered in this process."""
    folder = tmp_path / "cache"
    monkeypatch.setenv("SIMMODEL_CACHE_DIR", str(folder))
    monkeypatch.setattr(flows, "_FITS", {})
    monkeypatch.setattr(flows, "_BETA_SHAPES", {})
    return folder


def _forget(monkeypatch: pytest.MonkeyPatch) -> None:
    """As a new process: nothing remembered in memory."""
    monkeypatch.setattr(flows, "_FITS", {})
    monkeypatch.setattr(flows, "_BETA_SHAPES", {})


def _no_fitting(monkeypatch: pytest.MonkeyPatch) -> None:
    """Fail if a fit or a Beta shape is computed rather than read."""

    def refuse(*args: object) -> None:
        raise AssertionError("fitted again instead of reading the stored fit")

    monkeypatch.setattr(flows, "_fit", refuse)
    monkeypatch.setattr(flows, "_find_beta_shape", refuse)


def _same(a: flows.Flows, b: flows.Flows) -> bool:
    return all(np.array_equal(getattr(a, f.name), getattr(b, f.name)) for f in fields(a))


def test_a_stored_fit_is_read_back_exactly(cache_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cfg = make_config("estate=national")
    fitted = flows.fit_flows(cfg.population, cfg.need)
    shape = flows.beta_shape(cfg.population.share_served.men)
    assert sorted(p.name.split("-")[0] for p in cache_dir.glob("*.json")).count("flows") == 1
    _forget(monkeypatch)
    _no_fitting(monkeypatch)
    assert _same(flows.fit_flows(cfg.population, cfg.need), fitted)
    assert flows.beta_shape(cfg.population.share_served.men) == shape


def test_other_inputs_or_other_code_fit_again(cache_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cfg = make_config("estate=national")
    flows.fit_flows(cfg.population, cfg.need)
    _forget(monkeypatch)
    calls = []
    original = flows._fit
    monkeypatch.setattr(flows, "_fit", lambda *a: calls.append(a) or original(*a))
    more = replace(cfg.population, receptions_per_year=cfg.population.receptions_per_year * 1.1)
    flows.fit_flows(more, cfg.need)
    assert len(calls) == 1
    _forget(monkeypatch)
    monkeypatch.setattr(fit_cache, "_code_fingerprint", lambda: "changed code")
    flows.fit_flows(cfg.population, cfg.need)
    assert len(calls) == 2


@pytest.mark.parametrize(
    "damage",
    [
        lambda text: text[: len(text) // 2],  # cut short
        lambda text: "not json",
        lambda text: json.dumps(json.loads(text) | {"key": "another fit"}),  # a file of other inputs
        lambda text: text.replace("[", '["x", ', 1),  # a value that is not a number
        lambda text: json.dumps({"kind": "flows", "key": json.loads(text)["key"], "values": {}}),
    ],
)
def test_a_damaged_file_is_ignored_and_fitted_again(
    cache_dir: Path, monkeypatch: pytest.MonkeyPatch, damage: object
) -> None:
    cfg = make_config("estate=national")
    fitted = flows.fit_flows(cfg.population, cfg.need)
    (stored,) = cache_dir.glob("flows-*.json")
    stored.write_text(damage(stored.read_text()))  # type: ignore[operator]
    _forget(monkeypatch)
    assert _same(flows.fit_flows(cfg.population, cfg.need), fitted)
    assert json.loads(stored.read_text())["values"]["scale"] == fitted.scale  # written whole again


def test_no_cache_when_off_or_not_writable(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cfg = make_config("estate=national")
    blocked = tmp_path / "a file"
    blocked.write_text("")
    for setting in ("off", str(blocked / "cache")):
        monkeypatch.setenv("SIMMODEL_CACHE_DIR", setting)
        _forget(monkeypatch)
        assert flows.fit_flows(cfg.population, cfg.need).scale > 0
    assert [p.name for p in tmp_path.iterdir()] == ["a file"]


def test_the_oldest_files_go_beyond_the_limit(cache_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(fit_cache, "MAX_FILES", 3)
    for i in range(5):
        fit_cache.save("test", f"inputs {i}", {"value": i})
    assert len(list(cache_dir.glob("*.json"))) == 3
    assert fit_cache.load("test", "inputs 4") == {"value": 4}


def test_a_stored_fit_warns_as_the_fit_did(cache_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A 70+ share of 10% cannot be held steady: the fit warns, and so must a run that reads
    the stored fit."""
    ages = ("population.stock_age_shares.b70_plus=0.10", "population.stock_age_shares.b30_39=0.252")
    with pytest.warns(flows.FitWarning):
        cfg = make_config("estate=national", *ages)  # (checking the configuration fits it)
    for stored in cache_dir.glob("*.json"):
        stored.unlink()
    _forget(monkeypatch)
    with pytest.warns(flows.FitWarning, match="cannot be held steady") as fitting:
        flows.fit_flows(cfg.population, cfg.need)
    _forget(monkeypatch)
    _no_fitting(monkeypatch)
    with pytest.warns(flows.FitWarning, match="cannot be held steady") as reading:
        flows.fit_flows(cfg.population, cfg.need)
    fit_says = [str(w.message) for w in fitting if w.category is flows.FitWarning]
    assert [str(w.message) for w in reading] == fit_says
