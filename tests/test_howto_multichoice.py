"""docs/howto-multichoice.md, run: docs/examples/fit_lba3.py's steps with short chains, so
the page shows what works. The page includes the file, so what it shows is what runs here."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest

EXAMPLE = Path(__file__).parents[1] / "docs" / "examples" / "fit_lba3.py"


@pytest.fixture(scope="module")
def howto():
    spec = importlib.util.spec_from_file_location("fit_lba3", EXAMPLE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.slow
@pytest.mark.filterwarnings("ignore:Numba will use object mode")  # the simulator, in draws
def test_the_three_choice_howto_fits_lba3_with_its_network(howto):
    data = howto.simulate_data(n=300)
    assert set(data["response"]) == {0, 1, 2}
    idata = howto.fit(data, draws=100, tune=100, chains=1, random_seed=0, progressbar=False)
    shares = howto.choice_shares(data, idata)
    assert list(shares.index) == [0, 1, 2]
    assert (shares["predicted"] > 0).all()
    # Short chains: the posterior of the drift that wins most, near the truth, not exact.
    v1 = idata.posterior["v1"].to_numpy()
    assert abs(v1.mean() - howto.TRUTH["v1"]) < 4 * v1.std() + 0.05
    assert np.isfinite(idata.posterior["A"]).all()
