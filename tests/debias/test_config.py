"""Configs naming an unknown method or an impossible value are refused with the key and the allowed values."""
from __future__ import annotations

import pytest

from graphrec.config import ConfigError, resolve_config
from graphrec.debias import DEBIASERS, Debiaser, check_arguments, create_debiaser


@pytest.mark.parametrize("debias, args, words", [
    ("foo", {}, ["debias", "'foo'", "none, ips, macr, pda, dice"]),
    ("ips", {"exponent": -1}, ["exponent", "[0, inf)", "-1"]),
    ("ips", {"clip": 0}, ["clip", "(0, 1]"]),
    ("ips", {"clip": -0.5}, ["clip", "(0, 1]"]),
    ("ips", {"propensity": "guess"}, ["propensity", "popularity, dataset"]),
    ("ips", {"propensity": "dataset", "exponent": 0.5}, ["exponent", "popularity"]),
    ("ips", {"self_normalized": "yes"}, ["self_normalized", "true or false"]),
    ("ips", {"exponentt": 1}, ["exponentt", "propensity, exponent, clip, self_normalized"]),
    ("macr", {"c": -1}, ["c must", "[0, inf)"]),
    ("macr", {"alpha": "big"}, ["alpha", "[0, inf)"]),
    ("pda", {"gamma": -0.1}, ["gamma", "[0, inf)"]),
    ("pda", {"inference": "pdx"}, ["inference", "pda, pd"]),
    ("pda", {"window": 0}, ["window", "(0, 1]"]),
    ("pda", {"stages": 0}, ["stages", ">= 1"]),
    ("dice", {"discrepancy": "cosine"}, ["discrepancy", "dcor, l1, l2"]),
    ("dice", {"margin_decay": 1.5}, ["margin_decay", "(0, 1]"]),
    ("dice", {"inference": "popularity"}, ["inference", "both, interest, conformity"]),
    ("none", {"c": 1}, ["unknown", "'c'"]),
])
def test_impossible_configs_are_refused(debias, args, words):
    with pytest.raises(ConfigError) as error:
        resolve_config({"debias": debias, "debias_args": args})
    for word in words:
        assert word in str(error.value), (word, str(error.value))


def test_arguments_without_a_method_are_refused():
    with pytest.raises(ConfigError, match="debias_args.*debias is null"):
        resolve_config({"debias_args": {"c": 1}})


def test_valid_configs_resolve_with_their_arguments():
    resolved = resolve_config({"debias": "ips", "debias_args": {"exponent": 0, "clip": 0.1, "self_normalized": True}})
    assert resolved["debias"] == "ips" and resolved["debias_args"]["exponent"] == 0
    assert resolve_config({})["debias"] is None
    assert check_arguments("macr") == {"alpha": 1e-3, "beta": 1e-3, "c": 10.0}
    assert set(DEBIASERS) == {"none", "ips", "macr", "pda", "dice"}


def test_dataset_checks_happen_when_the_run_is_built(monkeypatch, make_dataset):
    """Propensities required but absent: refused by build_run with the key and the alternative."""
    import graphrec.experiment as experiment

    monkeypatch.setattr(experiment, "load_dataset", lambda config: make_dataset())
    config = {"model": "mf", "model_args": {"embedding_dim": 2}, "debias": "ips",
              "debias_args": {"propensity": "dataset"}, "device": "cpu", "eval": {"ks": [2], "metric": "ndcg@2"}}
    resolve_config(config)  # fine without data
    with pytest.raises(ConfigError, match="propensity 'dataset'.*tiny has none.*propensity: popularity"):
        experiment.build_run(config, progress=False)
    with pytest.raises(ConfigError, match="stages"):
        experiment.build_run({**config, "debias": "pda", "debias_args": {"stages": 2}}, progress=False)


def test_closed_form_models_take_no_debiaser(make_dataset):
    from graphrec.graph import build
    from graphrec.models import create_model

    dataset = make_dataset()
    pop = create_model("pop", build(dataset))
    with pytest.raises(ValueError, match="closed form.*debias: none"):
        create_debiaser("pda", dataset, pop)
    assert type(create_debiaser("none", dataset, pop)) is Debiaser
