"""Parameter validation: every bad value is refused naming the field and the range."""

import math

import pytest

from hebbsim.cli import main
from hebbsim.models.params import ClassifierParams, LayerParams


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"p": 1.5}, r"p must be >= 2 \(Lebesgue exponent\), got 1.5"),
        ({"p": math.nan}, "p must be finite, got nan"),
        ({"p": math.inf}, "p must be finite, got inf"),
        ({"k": 1}, "k must be >= 2, got 1"),
        ({"K": 10, "k": 11}, "k must be <= K = 10, got k = 11"),
        ({"delta": -0.1}, "delta must be >= 0, got -0.1"),
        ({"K": 0}, "K must be >= 1, got 0"),
        ({"R": 0.0}, "R must be > 0, got 0.0"),
        ({"w_inh": math.nan}, "w_inh must be finite"),
        ({"tau_ms": -1.0}, "tau_ms must be > 0"),
        ({"settle_tau": 0.0}, "settle_tau must be > 0"),
        ({"dt_tau": 2.0, "settle_tau": 1.0}, "dt_tau .* must not exceed settle_tau"),
        ({"eta": -1.0}, "eta must be >= 0"),
        ({"epochs": 0}, "epochs must be >= 1, got 0"),
        ({"g_form": "softmax"}, "g_form must be one of"),
    ],
)
def test_bad_layer_parameter_is_refused_naming_it(changes, message):
    with pytest.raises(ValueError, match=message):
        LayerParams(**changes)


def test_non_numeric_parameter_is_a_type_error():
    with pytest.raises(TypeError, match="K must be an integer, got '100'"):
        LayerParams(K="100")


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"beta": 0.0}, "beta must be > 0"),
        ({"m": 0.5}, "m must be >= 1"),
        ({"batch_size": 0}, "batch_size must be >= 1"),
        ({"lr": math.inf}, "lr must be finite"),
    ],
)
def test_bad_classifier_parameter_is_refused_naming_it(changes, message):
    with pytest.raises(ValueError, match=message):
        ClassifierParams(**changes)


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--k", "1"], "k must be >= 2"),
        (["--delta", "-1"], "delta must be >= 0"),
        (["--K", "0"], "K must be >= 1"),
        (["--p", "nan"], "p must be finite"),
        (["--w-inh", "-0.5"], "w_inh must be >= 0"),
    ],
)
def test_cli_rejects_bad_parameters_before_any_work(argv, message, capsys, tmp_path):
    status = main(["train-layer", *argv, "--out", str(tmp_path / "w.h5")])

    err = capsys.readouterr().err
    assert status == 2
    assert message in err
    assert not (tmp_path / "w.h5").exists()
