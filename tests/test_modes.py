"""evaluating(model): eval inside, the previous mode restored after, also on an error."""

import pytest
from torch import nn

from bijective.modes import evaluating


@pytest.mark.parametrize("training", [True, False])
def test_the_previous_mode_comes_back_even_after_an_error(training):
    model = nn.Sequential(nn.Linear(2, 2), nn.Dropout(0.5)).train(training)
    with evaluating(model) as inside:
        assert inside is model and not model.training and not model[1].training
    assert model.training is training and model[1].training is training
    with pytest.raises(RuntimeError, match="boom"), evaluating(model):
        raise RuntimeError("boom")
    assert model.training is training and model[1].training is training
