"""Model input sizes are checked against a memory bound before anything of that size is allocated."""

import numpy as np
import pytest

from seg_perception.inference import Segmenter, bench, export
from seg_perception.inference.memory import MEMORY_ENV, InputSizeError, check_input_size, estimate_bytes, memory_bound
from seg_perception.predict.cli import main as seg_predict
from seg_perception.ros.bag_eval import main as seg_bag_eval
from seg_perception.size import Size
from test_bad_checkpoints import inputs  # noqa: F401 - a fixture
from tiny_models import tiny_model, tiny_spec, write_tiny_checkpoint
from training.evaluate import main as seg_eval

BOUND_MB = 50  # the tiny model needs about 13 MiB at 256x128 and 209 MiB at 1024x512
UNDER, OVER = Size(256, 128), Size(1024, 512)


@pytest.fixture
def bound(monkeypatch):
    monkeypatch.setenv(MEMORY_ENV, str(BOUND_MB))


def test_the_estimate_grows_with_the_pixels_and_the_bound_defaults_to_half_the_memory():
    small, large = estimate_bytes(tiny_spec(), UNDER), estimate_bytes(tiny_spec(), OVER)
    assert 14 < large / small < 18  # 16 times the pixels, the same weights
    physical, source = memory_bound({})
    assert source == "half of this machine's memory" and physical > 2**28
    assert memory_bound({MEMORY_ENV: "50"}) == (50 * 2**20, MEMORY_ENV)


def test_a_size_under_the_bound_really_runs_and_one_over_is_refused_naming_size_estimate_and_bound(bound):
    segmenter = Segmenter(tiny_model(), tiny_spec(), backend="torch-cpu", input_size=UNDER)  # real allocations
    assert segmenter.segment(np.zeros((128, 256, 3), np.uint8)).labels.shape == (128, 256)
    with pytest.raises(InputSizeError) as error:
        Segmenter(tiny_model(), tiny_spec(), backend="torch-cpu", input_size=OVER)
    assert str(error.value) == (f"model input size 1024x512 needs about 0.20 GiB for 'unet', over the bound of "
                                f"0.05 GiB ({MEMORY_ENV}); choose a smaller input size, or set {MEMORY_ENV}")
    check_input_size(tiny_spec(), OVER, {MEMORY_ENV: "300"})  # a larger bound lets it pass


@pytest.mark.parametrize("tool", ["seg-export", "seg-bench", "seg-eval", "seg-bag-eval", "seg-predict"])
def test_every_tool_refuses_a_size_over_the_bound_in_one_line(bound, inputs, tiny_checkpoint, tmp_path,  # noqa: F811
                                                              capfd, tool):
    size = str(OVER)
    large = write_tiny_checkpoint(tmp_path / "large.pt", input_size=OVER)  # seg-eval takes the checkpoint's size
    out = str(tmp_path / "out")
    run = {
        "seg-export": lambda: export.main(["--checkpoint", str(tiny_checkpoint), "--backend", "onnx",
                                           "--input-size", size, "--out", out]),
        "seg-bench": lambda: bench.main(["--checkpoint", str(tiny_checkpoint), "--input-size", size]),
        "seg-eval": lambda: seg_eval(["--checkpoint", str(large), "--data", str(inputs / "data"), "--out", out]),
        "seg-bag-eval": lambda: seg_bag_eval([str(inputs / "bag"), "--checkpoint", str(tiny_checkpoint),
                                              "--input-size", size, "--out", out, "--quiet"]),
        "seg-predict": lambda: seg_predict([str(inputs / "images"), "--checkpoint", str(tiny_checkpoint),
                                            "--input-size", size, "--out", out, "--quiet"]),
    }[tool]
    capfd.readouterr()
    assert run() == 1
    err = capfd.readouterr().err
    assert err.count("\n") == 1 and err.startswith(f"{tool}: error: model input size 1024x512 needs about"), err
