"""Fitting a run into a wall-clock budget: the arithmetic, and a calibration on a real tiny model and loader."""

import pytest
import torch
from torch.utils.data import DataLoader

from seg_perception.models import build_model
from seg_perception.size import Size
from training.data import CityscapesDataset
from training.data.make_data import main as make_data
from training.time_budget import EpochCost, fit_epochs, measure_epoch_cost
from training.transforms import eval_transforms, train_transforms


@pytest.mark.parametrize("remaining, epoch_s, max_epochs, expected", [
    (550.0, 101.0, 8, 5),  # whole epochs only: 5.4 -> 5
    (5000.0, 101.0, 8, 8),  # never more than the config asks
    (50.0, 101.0, 8, 1),  # not even one fits: one anyway, a run must produce a checkpoint
    (-10.0, 101.0, 8, 1),  # the budget was spent before training
])
def test_fit_epochs(remaining, epoch_s, max_epochs, expected):
    assert fit_epochs(remaining, epoch_s, max_epochs) == expected


def test_an_epoch_is_the_first_step_the_later_steps_and_a_validation():
    assert EpochCost(first_step_s=2.0, step_s=0.5, val_s=10.0).epoch_s(125) == pytest.approx(2.0 + 124 * 0.5 + 10.0)


def test_calibration_times_real_training_steps_and_validation_on_the_model_it_is_given(tmp_path):
    assert make_data([str(tmp_path), "--split", "train", "--num", "16", "--size", "64x32", "--seed", "2"]) in (0, None)
    assert make_data([str(tmp_path), "--split", "val", "--num", "8", "--size", "64x32", "--seed", "2"]) in (0, None)
    train_set = CityscapesDataset(tmp_path, "train", transform=train_transforms(crop_size=Size(64, 32)))
    val_loader = DataLoader(CityscapesDataset(tmp_path, "val", transform=eval_transforms(Size(64, 32))), batch_size=1)
    model = build_model("unet", 19, base_channels=4, depth=2)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda it: 1.0)
    cost = measure_epoch_cost(model, optimizer, scheduler, torch.nn.CrossEntropyLoss(ignore_index=255), train_set,
                              val_loader, torch.device("cpu"), batch_size=2, workers=0, channels_last=False)
    assert cost.first_step_s > 0 and cost.step_s > 0 and cost.val_s > 0
    assert cost.step_s < 5 and cost.val_s < 5  # a 64x32 model: anything larger is a unit mix-up
    assert scheduler.last_epoch == 6  # 1 + CALIBRATION_STEPS steps were trained
    # it really trained the model it was given, which is why seg-train hands it a throw-away one
    assert any(not torch.equal(before[k], v) for k, v in model.state_dict().items())
