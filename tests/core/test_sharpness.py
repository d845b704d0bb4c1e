"""``knee_nlp.sharpness``: closed forms on quadratics, exact restoration, eval mode and errors.

Closed forms used below (``L(w') = 0.5 (w' - c)^T H (w' - c) + b`` measured at ``w = c``, box
radius ``r_i = eps (|c_i| + 1)``): a convex quadratic attains its maximum over a box at a
corner ``w' - c = s * r`` with ``s`` in ``{-1, 1}^n``, so ``max L - L(w) = 0.5 max_s (s r)^T H (s r)``.
For a diagonal ``H`` that is ``0.5 sum_i max(H_ii, 0) r_i^2`` (a coordinate with negative
curvature stays at its centre); for ``H = a a^T`` it is ``0.5 (sum_i |a_i| r_i)^2``.
"""

from __future__ import annotations

import itertools

import pytest
import torch
from torch import nn

from knee_nlp.sharpness import DEFAULT_EPS, DEFAULT_STEPS, SharpnessResult, keskar_sharpness


class Quadratic(nn.Module):
    """``L(w) = 0.5 (w - c)^T H (w - c) + b`` with the weights starting at ``c``."""

    def __init__(self, hessian: torch.Tensor, centre: torch.Tensor, offset: float = 0.0) -> None:
        super().__init__()
        self.w = nn.Parameter(centre.clone())
        self.register_buffer("centre", centre.clone())
        self.hessian, self.offset = hessian, offset

    def loss(self) -> torch.Tensor:
        d = self.w - self.centre
        return 0.5 * d @ self.hessian @ d + self.offset


def quadratic_loss(model: Quadratic, batch: object) -> torch.Tensor:
    return model.loss()


def measure(model: nn.Module, **kwargs: object) -> SharpnessResult:
    kwargs = {"eps": 0.1, "steps": 300, "progress": False, **kwargs}
    return keskar_sharpness(model, [None], quadratic_loss, **kwargs)


def test_defaults_are_the_authors() -> None:
    assert (DEFAULT_EPS, DEFAULT_STEPS) == (1e-4, 1000)


def test_diagonal_quadratic_matches_closed_form_and_sharper_scores_higher() -> None:
    eps, h = 0.1, torch.tensor([1.0, 2.0, 3.0, 4.0])
    flat = measure(Quadratic(torch.diag(h), torch.zeros(4)), eps=eps)
    sharp = measure(Quadratic(torch.diag(4 * h), torch.zeros(4)), eps=eps)
    expected = 100 * 0.5 * eps**2 * h.sum().item()  # L(w) = 0, every corner is a maximum
    assert flat.loss == 0.0
    assert flat.value == pytest.approx(expected, rel=1e-4)
    assert sharp.value == pytest.approx(4 * expected, rel=1e-4)
    assert sharp.value > flat.value


def test_box_scales_with_weight_magnitude_and_value_with_base_loss() -> None:
    eps, h = 0.05, torch.tensor([2.0, 0.5, 1.0])
    centre = torch.tensor([3.0, -1.0, 0.0])
    result = measure(Quadratic(torch.diag(h), centre, offset=1.5), eps=eps)
    radius = eps * (centre.abs() + 1)
    gain = 0.5 * (h * radius**2).sum().item()
    assert result.loss == pytest.approx(1.5)
    assert result.max_loss == pytest.approx(1.5 + gain, rel=1e-5)
    assert result.value == pytest.approx(100 * gain / (1 + 1.5), rel=1e-3)


def test_negative_curvature_coordinates_stay_at_the_centre() -> None:
    eps, h = 0.1, torch.tensor([3.0, -2.0, 1.0])
    result = measure(Quadratic(torch.diag(h), torch.zeros(3)), eps=eps, steps=600)
    assert result.value == pytest.approx(100 * 0.5 * eps**2 * 4.0, rel=2e-3)


def test_rank_one_hessian_reaches_the_sign_corner() -> None:
    eps, a = 0.1, torch.tensor([1.0, -2.0, 0.5, 3.0])
    result = measure(Quadratic(torch.outer(a, a), torch.zeros(4)), eps=eps)
    # max_s 0.5 eps^2 (s . a)^2 = 0.5 eps^2 (sum |a_i|)^2 = 0.5 eps^2 sum_ij |H_ij|
    assert result.value == pytest.approx(100 * 0.5 * eps**2 * a.abs().sum().item() ** 2, rel=1e-4)


def test_subspace_variant_matches_brute_force_over_corners() -> None:
    eps, p, seed = 0.1, 3, 7
    h = torch.diag(torch.tensor([1.0, 2.0, 3.0, 4.0, 5.0]))
    result = measure(Quadratic(h, torch.zeros(5)), eps=eps, subspace_dim=p, seed=seed)
    # A is the first draw of the seeded generator (i.i.d. standard normal); A^+ w = 0 here.
    basis = torch.randn(5, p, generator=torch.Generator().manual_seed(seed))
    reduced = basis.T @ h @ basis
    best = max(0.5 * eps**2 * (s @ reduced @ s).item()
               for s in map(torch.tensor, itertools.product([-1.0, 1.0], repeat=p)))
    assert result.subspace_dim == p
    assert result.value == pytest.approx(100 * best, rel=1e-3)
    full = measure(Quadratic(h, torch.zeros(5)), eps=eps)
    assert result.value != pytest.approx(full.value)


def test_reports_the_maximum_over_the_ascent_not_the_last_iterate() -> None:
    seen: list[float] = []

    def bumpy(model: Quadratic, batch: object) -> torch.Tensor:
        # a concave cap inside the box: Adam circles the peak, so late iterates sit below it
        loss = -((model.w - 0.03) ** 2).sum() * 50 + torch.sin(40 * model.w).sum()
        seen.append(loss.item())
        return loss

    model = Quadratic(torch.eye(2), torch.zeros(2))
    result = keskar_sharpness(model, [None], bumpy, eps=0.2, steps=80, lr=0.2, progress=False)
    assert result.max_loss == max(seen)
    assert seen[-1] < max(seen)
    assert result.best_step is not None and result.best_step < 80


def test_value_is_zero_when_no_perturbation_raises_the_loss() -> None:
    model = Quadratic(-torch.eye(2), torch.zeros(2))  # a maximum: every w' is lower
    result = measure(model, steps=20)
    assert (result.value, result.best_step) == (0.0, None)


class Net(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.layers = nn.Sequential(nn.Linear(6, 16), nn.BatchNorm1d(16), nn.ReLU(), nn.Dropout(0.5),
                                    nn.Linear(16, 3))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.layers(x)


def classification_loss(model: nn.Module, batch: tuple[torch.Tensor, torch.Tensor]) -> torch.Tensor:
    return nn.functional.cross_entropy(model(batch[0]), batch[1])


def data(count: int = 3) -> list[tuple[torch.Tensor, torch.Tensor]]:
    generator = torch.Generator().manual_seed(0)
    return [(torch.randn(10, 6, generator=generator), torch.randint(3, (10,), generator=generator))
            for _ in range(count)]


def trained_net() -> Net:
    torch.manual_seed(0)
    model = Net()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    for x, y in data():  # moves the BatchNorm statistics and leaves .grad set
        optimizer.zero_grad()
        classification_loss(model, (x, y)).backward()
        optimizer.step()
    return model


def snapshot(model: nn.Module) -> dict[str, torch.Tensor]:
    state = {k: v.detach().clone() for k, v in model.state_dict(keep_vars=True).items()}
    state.update({f"{k}.grad": p.grad.clone() for k, p in model.named_parameters()})
    return state


def assert_identical(model: nn.Module, before: dict[str, torch.Tensor]) -> None:
    after = snapshot(model)
    assert after.keys() == before.keys()
    for key, value in before.items():
        assert after[key].dtype == value.dtype and torch.equal(after[key], value), key


def test_model_measured_in_eval_mode_and_restored_bit_identically() -> None:
    model = trained_net()
    model.layers[3].eval()  # a mixed-mode model: each module's own flag comes back
    modes = [m.training for m in model.modules()]
    before = snapshot(model)
    seen_modes: set[bool] = set()

    def loss_fn(m: nn.Module, batch: tuple[torch.Tensor, torch.Tensor]) -> torch.Tensor:
        seen_modes.update(module.training for module in m.modules())
        return classification_loss(m, batch)

    rng = torch.get_rng_state()
    result = keskar_sharpness(model, data(), loss_fn, eps=1e-3, steps=15, progress=False)
    assert seen_modes == {False}
    assert [m.training for m in model.modules()] == modes
    assert_identical(model, before)
    assert torch.equal(torch.get_rng_state(), rng)  # a private generator: global RNG untouched
    model.eval()
    with torch.no_grad():
        plain = sum(classification_loss(model, batch).item() for batch in data()) / 3
    assert result.loss == pytest.approx(plain, rel=1e-6)  # no dropout, running BatchNorm stats
    assert result.max_loss > result.loss and result.value > 0 and result.batches == 3


@pytest.mark.parametrize("error", [RuntimeError("loss failed"), KeyboardInterrupt()])
def test_restored_after_an_exception_inside_the_loss(error: BaseException) -> None:
    model = trained_net()
    before = snapshot(model)
    calls = 0

    def failing(m: nn.Module, batch: tuple[torch.Tensor, torch.Tensor]) -> torch.Tensor:
        nonlocal calls
        calls += 1
        if calls == 8:  # mid-ascent, with the weights perturbed
            raise error
        return classification_loss(m, batch)

    with pytest.raises(type(error)):
        keskar_sharpness(model, data(), failing, eps=1e-2, steps=10, progress=False)
    assert model.training and all(m.training for m in model.modules())
    assert_identical(model, before)


def test_deterministic_with_a_seed() -> None:
    first = keskar_sharpness(trained_net(), data(), classification_loss, eps=1e-3, steps=10, seed=3,
                             progress=False)
    again = keskar_sharpness(trained_net(), data(), classification_loss, eps=1e-3, steps=10, seed=3,
                             progress=False)
    assert first == again
    sub = [keskar_sharpness(trained_net(), data(), classification_loss, eps=1e-3, steps=10, seed=3,
                            subspace_dim=4, progress=False) for _ in range(2)]
    assert sub[0] == sub[1] and sub[0].subspace_dim == 4


def test_progress_bar_can_be_hidden(capsys: pytest.CaptureFixture) -> None:
    keskar_sharpness(trained_net(), data(1), classification_loss, steps=3, progress=False)
    assert "sharpness" not in capsys.readouterr().err
    keskar_sharpness(trained_net(), data(1), classification_loss, steps=3, progress=True)
    assert "sharpness" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"eps": 0.0}, "eps must be a finite number > 0.0, got 0.0"),
        ({"eps": -1e-4}, "eps must be a finite number > 0.0, got -0.0001"),
        ({"eps": float("nan")}, "eps must be a finite number > 0.0, got nan"),
        ({"steps": 0}, "steps must be an integer >= 1, got 0"),
        ({"steps": 2.5}, "steps must be an integer >= 1, got 2.5"),
        ({"lr": 0}, "lr must be a finite number > 0.0, got 0"),
        ({"subspace_dim": 0}, "subspace_dim must be an integer >= 1, got 0"),
        ({"seed": -1}, "seed must be an integer >= 0, got -1"),
        ({"batches": []}, "batches must hold at least 1 batch, got 0"),
        ({"batches": iter([])}, "batches must hold at least 1 batch, got 0"),
        ({"loss_fn": "ce"}, "loss_fn must be callable"),
    ],
)
def test_bad_arguments(kwargs: dict, message: str) -> None:
    model = trained_net()
    before = snapshot(model)
    arguments = {"batches": data(1), "loss_fn": classification_loss, **kwargs}
    with pytest.raises(ValueError) as error:
        keskar_sharpness(model, arguments.pop("batches"), arguments.pop("loss_fn"), progress=False,
                         **arguments)
    assert message in str(error.value)
    assert_identical(model, before)


def test_bad_models_and_losses() -> None:
    frozen = nn.Linear(2, 1).requires_grad_(False)
    with pytest.raises(ValueError, match="at least 1 parameter with requires_grad=True, got 0"):
        keskar_sharpness(frozen, [None], lambda m, b: m.weight.sum(), progress=False)
    model = nn.Linear(2, 1)
    with pytest.raises(ValueError, match="must return a scalar tensor"):
        keskar_sharpness(model, [torch.ones(3, 2)], lambda m, b: m(b), steps=2, progress=False)
    with pytest.raises(ValueError, match="non-finite loss"):
        keskar_sharpness(model, [None], lambda m, b: m.weight.sum() * float("inf"), progress=False)
    with pytest.raises(ValueError, match=r"subspace_dim must be <= the 3 trainable parameters, got 4"):
        keskar_sharpness(model, [None], lambda m, b: m.weight.sum(), subspace_dim=4, progress=False)
    for half in (torch.float16, torch.bfloat16):
        with pytest.raises(ValueError, match=f"must be float32 or float64, got {half}.*measure model.float"):
            keskar_sharpness(nn.Linear(2, 1).to(half), [None], lambda m, b: m.weight.sum(), progress=False)


def test_frozen_parameters_do_not_move() -> None:
    model = Quadratic(torch.diag(torch.tensor([1.0, 1.0])), torch.zeros(2))
    model.extra = nn.Parameter(torch.ones(2), requires_grad=False)
    seen = []

    def loss_fn(m: Quadratic, batch: object) -> torch.Tensor:
        seen.append(m.extra.detach().clone())
        return m.loss() + m.extra.sum()

    keskar_sharpness(model, [None], loss_fn, eps=0.1, steps=5, progress=False)
    assert all(torch.equal(t, torch.ones(2)) for t in seen)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_runs_on_the_model_device() -> None:
    model = Quadratic(torch.diag(torch.tensor([1.0, 2.0])).cuda(), torch.zeros(2).cuda()).cuda()
    before = model.w.detach().clone()
    result = measure(model)
    assert result.value == pytest.approx(100 * 0.5 * 0.01 * 3.0, rel=1e-4)
    assert model.w.device.type == "cuda" and torch.equal(model.w, before)
