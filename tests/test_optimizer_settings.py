"""Optimizer settings beyond the update rule: schedules, clipping, weight decay, EMA.
Training with each is compared with Keras in test_training_parity (schedule_*, clip*,
weight_decay_*, ema_*); here, their values and their errors."""

import pytest

from seqcli import optimizers, schedules, training
from seqcli.errors import SeqcliError


@pytest.mark.parametrize("setting,steps,expected", [
    ({"ExponentialDecay": {"initial_learning_rate": 0.1, "decay_steps": 3, "decay_rate": 0.5}},
     [0, 3, 6], [0.1, 0.05, 0.025]),
    ({"InverseTimeDecay": {"initial_learning_rate": 1.0, "decay_steps": 2, "decay_rate": 1.0,
                           "staircase": True}}, [0, 1, 2, 5], [1.0, 1.0, 0.5, 1 / 3]),
    ({"PiecewiseConstantDecay": {"boundaries": [3, 6], "values": [3.0, 2.0, 1.0]}},
     [0, 3, 4, 6, 7], [3.0, 3.0, 2.0, 2.0, 1.0]),
    ({"PolynomialDecay": {"initial_learning_rate": 1.0, "decay_steps": 4,
                          "end_learning_rate": 0.0}}, [0, 2, 4, 9], [1.0, 0.5, 0.0, 0.0]),
    ({"CosineDecay": {"initial_learning_rate": 1.0, "decay_steps": 4}}, [0, 2, 4, 8],
     [1.0, 0.5, 0.0, 0.0]),
    ({"CosineDecay": {"initial_learning_rate": 0.0, "decay_steps": 4, "warmup_target": 1.0,
                      "warmup_steps": 2}}, [0, 1, 2, 4], [0.0, 0.5, 1.0, 0.5]),
    ({"CosineDecayRestarts": {"initial_learning_rate": 1.0, "first_decay_steps": 2,
                              "t_mul": 1.0, "m_mul": 0.5}}, [0, 1, 2, 4], [1.0, 0.5, 0.5, 0.25]),
])
def test_schedules_follow_their_formulas(setting, steps, expected):
    checked = schedules.check(setting)
    got = [float(schedules.learning_rate(checked, step)) for step in steps]
    assert got == pytest.approx(expected, abs=1e-6)


def test_a_schedule_drives_the_optimizers_learning_rate():
    name, args = optimizers.get({"sgd": {"learning_rate": {"exponential_decay": {
        "initial_learning_rate": 1.0, "decay_steps": 1, "decay_rate": 0.5}}}})
    optimizer = optimizers.Optimizer((name, args))
    rates = []
    for _ in range(3):
        rates.append(float(optimizer.learning_rate()))
        optimizer.iterations += 1
    assert rates == [1.0, 0.5, 0.25]


@pytest.mark.parametrize("optimizer,words", [
    ({"sgd": {"clipnorm": 1.0, "clipvalue": 0.5}}, "Only one of"),
    ({"adam": {"clipnorm": -1}}, "non-negative number"),
    ({"adam": {"ema_momentum": 2}}, "ema_momentum"),
    ({"adam": {"use_ema": True, "ema_overwrite_frequency": 0}}, "integer >= 1"),
    ({"sgd": {"learning_rate": {"ExponentialDecy": {}}}}, "did you mean 'ExponentialDecay'"),
    ({"sgd": {"learning_rate": {"ExponentialDecay": {"initial_learning_rate": 0.1}}}},
     "needs the argument `decay_steps`"),
    ({"sgd": {"learning_rate": {"PiecewiseConstantDecay": {"boundaries": [1, 2],
                                                           "values": [1.0]}}}},
     "1 less than the length of values"),
    ({"sgd": {"learning_rate": {"CosineDecay": {"initial_learning_rate": 0.1,
                                                "decay_steps": 0}}}}, "decay_steps"),
])
def test_bad_optimizer_settings_are_one_line_errors(optimizer, words):
    with pytest.raises(SeqcliError) as error:
        training.compile_settings({"loss": "mse", "optimizer": optimizer}, where="m.yaml")
    message = str(error.value)
    assert words in message and message.startswith("m.yaml: ") and "\n" not in message
