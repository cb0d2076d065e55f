"""Fits kept on disk between processes (simmodel/model/fit_cache.py): read back exactly, only
for the same inputs and code, and never trusted when a file is damaged or the folder is not
writable."""

from __future__ import annotations

import json
import os
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
    assert len(list(cache_dir.glob(f"{fit_cache._PREFIX}flows-*.json"))) == 1
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
        lambda text: json.dumps((d := json.loads(text)) | {"values": d["values"] | {"scale": 10**400}}),
        lambda text: "[" * 100_000,  # too deeply nested to parse
    ],
)
def test_a_damaged_file_is_ignored_and_fitted_again(
    cache_dir: Path, monkeypatch: pytest.MonkeyPatch, damage: object
) -> None:
    cfg = make_config("estate=national")
    fitted = flows.fit_flows(cfg.population, cfg.need)
    (stored,) = cache_dir.glob(f"{fit_cache._PREFIX}flows-*.json")
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
    """Only the cache's own files are pruned, oldest first, never the one just written (even
    when the clock cannot tell them apart)."""
    monkeypatch.setattr(fit_cache, "MAX_FILES", 3)
    cache_dir.mkdir()
    (cache_dir / "notes.json").write_text("{}")  # someone else's file in the folder
    for i in range(5):
        fit_cache.save("test", f"inputs {i}", {"value": i})
        for path in cache_dir.glob(f"{fit_cache._PREFIX}*.json"):
            os.utime(path, ns=(10**18, 10**18))  # all written "at the same time"
    assert len(list(cache_dir.glob(f"{fit_cache._PREFIX}*.json"))) == 3
    assert fit_cache.load("test", "inputs 4") == {"value": 4}
    assert (cache_dir / "notes.json").read_text() == "{}"
    assert not list(cache_dir.glob(".*"))  # no temporary files left behind


def test_the_oldest_files_go_beyond_the_byte_limit(cache_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Large stored tables (a Beta quantile table is about 330 KB) are capped in bytes too: the
    oldest go first, the one just written stays even if it alone is over the limit."""
    monkeypatch.setattr(fit_cache, "MAX_BYTES", 2500)
    for i in range(4):
        fit_cache.save("test", f"inputs {i}", {"values": [i + 0.123456789] * 70})  # about 1 KB each
        path = fit_cache._path(cache_dir, "test", f"inputs {i}")
        os.utime(path, ns=(10**18 + i, 10**18 + i))  # written in this order
    kept = sorted(p.stat().st_size for p in cache_dir.glob(f"{fit_cache._PREFIX}*.json"))
    assert len(kept) == 2 and sum(kept) <= 2500
    assert fit_cache.load("test", "inputs 3") is not None and fit_cache.load("test", "inputs 2") is not None
    assert fit_cache.load("test", "inputs 0") is None
    monkeypatch.setattr(fit_cache, "MAX_BYTES", 10)
    fit_cache.save("test", "inputs 4", {"values": [4.0] * 100})
    assert fit_cache.load("test", "inputs 4") is not None  # the newest stays, alone
    assert len(list(cache_dir.glob(f"{fit_cache._PREFIX}*.json"))) == 1


def test_no_home_folder_means_no_cache(monkeypatch: pytest.MonkeyPatch) -> None:
    """A container's user may have no home: the run goes on without the cache."""

    def no_home() -> Path:
        raise RuntimeError("Could not determine home directory.")

    for name in ("SIMMODEL_CACHE_DIR", "XDG_CACHE_HOME"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr(Path, "home", staticmethod(no_home))
    assert fit_cache.folder() is None
    _forget(monkeypatch)
    cfg = make_config("estate=national")
    assert flows.fit_flows(cfg.population, cfg.need).scale > 0


def test_a_fit_that_fails_still_shows_its_warning(cache_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The fit warns that the 70+ share cannot be held, then fails on the population it
    cannot hold steady: the user sees both, as before the cache."""
    from simmodel.config import ConfigError

    ages = ("population.stock_age_shares.b70_plus=0.10", "population.stock_age_shares.b30_39=0.252")
    with pytest.warns(flows.FitWarning):
        cfg = make_config("estate=national", *ages)
    _forget(monkeypatch)
    too_many = replace(cfg.population, initial_population=cfg.population.initial_population * 10)
    with pytest.warns(flows.FitWarning, match="cannot be held steady"), pytest.raises(ConfigError):
        flows.fit_flows(too_many, cfg.need)


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
