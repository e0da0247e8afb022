"""The shipped training configs parse."""

from conftest import ROOT

from dataprep.train import load_config


def test_shipped_train_configs_load():
    paths = sorted((ROOT / "recipes" / "train").glob("*.yaml"))
    assert paths
    for path in paths:
        cfg = load_config(path)
        assert cfg.data and cfg.max_steps > 0
