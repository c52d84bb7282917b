"""graphrec.config: YAML files and --set overrides, read as a researcher types them."""
from __future__ import annotations

import pytest

from graphrec.config import ConfigError, apply_overrides, load_config, resolve_config


def test_exponent_floats_are_numbers_in_files_and_overrides(tmp_path):
    # PyYAML alone (YAML 1.1) reads 1e-3 as the string "1e-3"
    path = tmp_path / "run.yaml"
    path.write_text("lr: 1e-3\nweight_decay: 1E-4\nepochs: 10\nmodel_args: {embedding_dim: 64, init_std: .1}\n")
    config = resolve_config(apply_overrides(load_config(path), ["weight_decay=2e-5", "eval.ks=[10, 20]", "seed=7"]))
    assert config["lr"] == 1e-3 and isinstance(config["lr"], float)
    assert config["weight_decay"] == 2e-5 and isinstance(config["weight_decay"], float)
    assert config["model_args"] == {"embedding_dim": 64, "init_std": 0.1}
    assert config["epochs"] == 10 and isinstance(config["epochs"], int)  # integers stay integers
    assert config["seed"] == 7 and config["eval"]["ks"] == [10, 20]


@pytest.mark.parametrize("text, value", [("1", 1), ("-2.5e-3", -2.5e-3), ("1.0e-5", 1e-5), ("e5", "e5"),
                                         ("3e", "3e"), ("cuda", "cuda"), ("null", None), ("0x1F", 31)])
def test_override_values_are_yaml(text, value):
    assert apply_overrides({}, [f"key={text}"]) == {"key": value}


def test_syntax_errors_name_the_file_and_line(tmp_path):
    path = tmp_path / "broken.yaml"
    path.write_text("lr: 1e-3\nmodel: [lightgcn\n")
    with pytest.raises(ConfigError, match=r"broken\.yaml, line \d+: expected valid YAML"):
        load_config(path)


def test_a_string_where_a_number_belongs_is_refused_by_name():
    with pytest.raises(ConfigError, match="weight_decay must be a non-negative number, got 'a lot'"):
        resolve_config({"weight_decay": "a lot"})


def test_positive_sampling_is_a_checked_choice_that_reaches_the_trainer():
    from graphrec.experiment import build_run

    assert resolve_config({})["positive_sampling"] == "interactions"
    with pytest.raises(ConfigError, match="positive_sampling: 'user' is not one of interactions, users"):
        resolve_config({"positive_sampling": "user"})
    config = {"dataset_args": {"num_users": 30, "num_items": 20, "clicks_per_user": 4, "seed": 0}, "model": "mf",
              "model_args": {"embedding_dim": 4}, "device": "cpu", "positive_sampling": "users"}
    assert build_run(config).trainer.positive_sampling == "users"
