import io
import os
import pickle

import pytest
import torch

from stylegan2_ada.legacy import NetworkPickleError, UnsafePickleError, load_network_pickle
from stylegan2_ada.tests import nvlabs_format as nvlabs
from stylegan2_ada.tests.helpers import labels

pytestmark = pytest.mark.nodb

FIXTURES = {
    "unconditional-fp32": dict(c_dim=0, num_fp16_res=0, conv_clamp=None, mapping_layers=2),
    "conditional-fp16-clamped": dict(c_dim=3, num_fp16_res=2, conv_clamp=0.8, mapping_layers=8),
}


@pytest.fixture(params=sorted(FIXTURES))
def nvlabs_pickle(request, tmp_path):
    options = FIXTURES[request.param]
    G = nvlabs.generator_node(**options)
    D = nvlabs.discriminator_node(c_dim=options["c_dim"], num_fp16_res=options["num_fp16_res"],
                                  conv_clamp=options["conv_clamp"])
    path = tmp_path / f"{request.param}.pkl"
    nvlabs.write_network_pickle(path, G, D)
    return path, G, options


@pytest.mark.parametrize("psi, cutoff", [(1.0, None), (0.7, None), (0.5, 2)])
def test_loaded_generator_matches_the_reference_forward_pass(nvlabs_pickle, psi, cutoff):
    path, G_node, options = nvlabs_pickle
    G = load_network_pickle(path).G_ema
    z = torch.randn(2, 16, generator=torch.Generator().manual_seed(7))
    c = labels(options["c_dim"], [0, 2]) if options["c_dim"] else None
    ours = G(z, c if c is not None else torch.zeros(2, 0), truncation_psi=psi, truncation_cutoff=cutoff,
             noise_mode="const")
    reference = nvlabs.reference_generator_forward(
        G_node.flat_tensors(), z, c, num_ws=G.num_ws, w_dim=16, resolution=32, channel_base=256, channel_max=32,
        mapping_layers=options["mapping_layers"], conv_clamp=options["conv_clamp"], psi=psi, cutoff=cutoff)
    max_abs_diff = (ours - reference).abs().max().item()
    print(f"parity max abs diff ({path.stem}, psi={psi}, cutoff={cutoff}): {max_abs_diff:.2e}")
    assert max_abs_diff < 1e-3


def test_loader_returns_all_networks_and_training_metadata(nvlabs_pickle):
    path, _, options = nvlabs_pickle
    loaded = load_network_pickle(path)
    assert loaded.G is not None and loaded.D is not None
    assert loaded.G_ema.c_dim == options["c_dim"]
    assert loaded.G_ema.synthesis.b32.use_fp16 == (options["num_fp16_res"] > 0)
    assert loaded.augment_kwargs["p"] == pytest.approx(0.25)
    assert loaded.training_set_kwargs["max_size"] == 1053
    images = loaded.G_ema(torch.randn(4, 16), labels(options["c_dim"], [0, 1, 2, 0]), noise_mode="const")
    assert loaded.D(images, labels(options["c_dim"], [0, 1, 2, 0])).shape == (4, 1)


class _RunsAShellCommand:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def test_hostile_pickle_is_refused_without_running_anything(tmp_path):
    marker = tmp_path / "pwned"
    payload = pickle.dumps({"G_ema": _RunsAShellCommand(marker)}, protocol=3)
    with pytest.raises(UnsafePickleError, match=r"posix\.system|nt\.system"):
        load_network_pickle(io.BytesIO(payload))
    assert not marker.exists()


def test_arbitrary_classes_are_refused_by_name():
    payload = pickle.dumps({"G_ema": torch.nn.Linear}, protocol=3)
    with pytest.raises(UnsafePickleError, match="torch.nn.modules.linear.Linear"):
        load_network_pickle(io.BytesIO(payload))


def test_truncated_pickle_gives_a_clear_error(nvlabs_pickle):
    path, _, _ = nvlabs_pickle
    data = path.read_bytes()
    with pytest.raises(NetworkPickleError, match="truncated or invalid"):
        load_network_pickle(io.BytesIO(data[: len(data) // 2]))


def test_pickle_without_a_generator_is_refused():
    with pytest.raises(NetworkPickleError, match="neither G_ema nor G"):
        load_network_pickle(io.BytesIO(pickle.dumps({"D": None})))
    with pytest.raises(NetworkPickleError, match="expected a dict"):
        load_network_pickle(io.BytesIO(pickle.dumps([1, 2, 3])))


def test_state_that_does_not_fit_the_saved_arguments_is_refused(tmp_path):
    G = nvlabs.generator_node()
    G.modules["synthesis"].modules["b8"].modules["conv0"].params["weight"] = torch.randn(32, 32, 1, 1)
    path = tmp_path / "bad.pkl"
    nvlabs.write_network_pickle(path, G)
    with pytest.raises(NetworkPickleError, match="synthesis.b8.conv0.weight has shape"):
        load_network_pickle(path)
