"""Issue 16: option handling and empty data, beyond the hostile table."""

import numpy as np

from tests.test_cli import assert_clean_error

SPEC = "name: m\ninput_shape: [4]\nlayers:\n  - Dense: {units: 2}\n"


def test_debug_after_the_command_name_is_accepted(cli, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "s.yaml").write_text(SPEC)
    result = cli("summary", "s.yaml", "--debug")
    assert result.exit_code == 0, result.stderr
    assert "Total params: 10" in result.stdout
    failing = cli("summary", "s.yaml", "--input-shape", "4,5", "--debug")
    assert failing.exit_code == 1
    assert "NoSuchOption" not in failing.stderr and "incompatible" in failing.stderr


def test_a_trailing_comma_in_a_shape_is_python_tuple_style(cli, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "s.yaml").write_text(SPEC)
    result = cli("summary", "s.yaml", "--input-shape", "4,")
    assert result.exit_code == 0, result.stderr


def test_summary_of_data_with_no_rows_shows_an_unknown_batch(cli, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "s.yaml").write_text(SPEC)
    np.save("x.npy", np.ones((0, 4), np.float32))
    result = cli("summary", "s.yaml", "--input", "x.npy")
    assert result.exit_code == 0, result.stderr
    assert "(None, 2)" in result.stdout


def test_data_with_no_rows_is_a_clean_error_for_fit(cli, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "s.yaml").write_text(SPEC)
    np.save("x.npy", np.ones((0, 4), np.float32))
    np.save("y.npy", np.ones((0, 2), np.float32))
    result = cli("fit", "s.yaml", "--x", "x.npy", "--y", "y.npy", "--loss", "mse",
                 "--optimizer", "sgd", "-o", "w.npz")
    assert_clean_error(result, 1, "0 samples")
    assert not (tmp_path / "w.npz").exists()


def test_dash_output_is_standard_output_for_every_writer(cli, tmp_path, monkeypatch):
    import io

    monkeypatch.chdir(tmp_path)
    (tmp_path / "s.yaml").write_text(SPEC)
    np.save("x.npy", np.ones((3, 4), np.float32))
    np.save("y.npy", np.ones((3, 2), np.float32))
    for args in (["init", "s.yaml"], ["fit", "s.yaml", "--x", "x.npy", "--y", "y.npy",
                                      "--loss", "mse", "--optimizer", "sgd"]):
        result = cli(*args, "-o", "-")
        assert result.exit_code == 0, result.stderr
        assert sorted(np.load(io.BytesIO(result.stdout_bytes))) == ["dense/bias", "dense/kernel"]
    extracted = cli("extract", "s.yaml", "--input", "x.npy", "--layer", "dense", "-o", "-")
    assert np.load(io.BytesIO(extracted.stdout_bytes))["dense"].shape == (3, 2)
    for args in (["freeze", "s.yaml", "--all"], ["pop", "s.yaml"], ["new", "--input-shape", "4"]):
        result = cli(*args, "-o", "-")
        assert result.exit_code == 0, result.stderr
        assert "input_shape: [4]" in result.stdout
    assert not (tmp_path / "-").exists()
