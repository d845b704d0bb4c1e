"""Keskar et al.'s epsilon-sharpness of a trained model (the paper's "minima width" metric).

For weights ``w`` and training loss ``L``, the sharpness is

.. math::

    \\phi_\\epsilon(w) = 100 \\cdot \\frac{\\max_{w' \\in C_\\epsilon} L(w') - L(w)}{1 + L(w)},
    \\qquad C_\\epsilon = \\{w' : |w'_i - w_i| \\le \\epsilon (|w_i| + 1)\\ \\forall i\\}

(Keskar et al., "On Large-Batch Training for Deep Learning: Generalization Gap and Sharp Minima",
ICLR 2017, arXiv:1609.04836, section 2.2.2, eq. 4). With ``subspace_dim=p`` the maximum is taken
over Keskar's random manifold instead: ``w' = w + A y`` for a random ``A`` in ``R^{n x p}`` and
``|y_j| <= eps (|(A^+ w)_j| + 1)``.

The maximum is approximated by projected gradient ascent (the first-order method of Iyer et al.'s
``ComputeKeskarSharpness``), done right: a fresh Adam optimizer of its own on box-normalized
coordinates ``z = (w' - w) / (eps (|w| + 1))`` clipped to ``[-1, 1]``; parameters only (buffers
never move); the model in eval mode (no dropout, no BatchNorm statistics updates); the largest
loss seen over the whole ascent (the unperturbed ``L(w)`` included, so the value is >= 0), not
the last iterate; every parameter, buffer, ``.grad`` and module training flag restored
bit-identically afterwards, also when the loss callback raises or on Ctrl-C; everything on the
model's device; a seeded private generator, so the result is deterministic and the global RNG
is untouched.

Defaults and where they come from:

- ``eps=1e-4``, ``steps=1000``: the defaults of Iyer et al.'s tool (the authors' repository
  README: "epsilon ... Default value: 1e-4", "max_steps ... Default: 1000", chosen by tuning on
  CIFAR-10 / ResNet-18). Keskar et al. themselves report eps = 1e-3 and 5e-4 and solve the
  maximization with L-BFGS-B limited to 10 iterations (arXiv:1609.04836, section 2.2.2 and
  Tables 3-4; their random-subspace tables use p = 100). Values for different ``eps`` are not
  comparable: always quote ``eps`` with the number.
- ``lr=1e-2``: ours. The authors' ``lr=1e-3`` was the step size of whatever training optimizer was
  passed in, in weight units; here the step is in units of the box half-width, so one value fits
  every model: Adam moves each coordinate by about ``lr`` of its box per step, so 1000 steps can
  cross the box several times.
- The ascent starts from a seeded uniform point in the box, not from ``w``: at an exact minimum
  the gradient vanishes and an ascent from ``w`` would never move.

``L`` is the mean of ``loss_fn(model, batch)`` over the given batches (the full-batch loss when
the batches are the whole training set, or a fixed sample of it); each ascent step uses the
gradient of that same mean, so the measured function never changes during the ascent.

Example::

    >>> import torch
    >>> model = torch.nn.Linear(4, 1)
    >>> data = [(torch.randn(8, 4), torch.randn(8, 1))]
    >>> loss_fn = lambda m, batch: torch.nn.functional.mse_loss(m(batch[0]), batch[1])
    >>> result = keskar_sharpness(model, data, loss_fn, steps=50, progress=False)
    >>> result.value >= 0.0 and result.max_loss >= result.loss
    True
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

from knee_nlp.validation import check_number, check_step_count

if TYPE_CHECKING:  # torch is imported on use, so that ``knee-nlp --help`` stays fast
    import torch
    from torch import nn

DEFAULT_EPS = 1e-4
DEFAULT_STEPS = 1000
DEFAULT_LR = 1e-2

LossFn = Callable[["nn.Module", Any], "torch.Tensor"]


@dataclass(frozen=True)
class SharpnessResult:
    """What :func:`keskar_sharpness` measured.

    ``value`` is ``100 * (max_loss - loss) / (1 + loss)``; ``loss`` is ``L(w)``; ``max_loss`` the
    largest ``L(w')`` seen, at ascent step ``best_step`` (0 is the random start; ``None`` when no
    perturbed point beat ``L(w)`` itself, so ``value`` is 0); ``batches`` the number of batches
    ``L`` averages over.
    """

    value: float
    loss: float
    max_loss: float
    eps: float
    steps: int
    lr: float
    batches: int
    subspace_dim: int | None
    seed: int
    best_step: int | None

    def to_dict(self) -> dict[str, Any]:
        """The fields as a JSON-able dict."""
        return asdict(self)


def keskar_sharpness(
    model: nn.Module,
    batches: Iterable[Any],
    loss_fn: LossFn,
    *,
    eps: float = DEFAULT_EPS,
    steps: int = DEFAULT_STEPS,
    lr: float = DEFAULT_LR,
    subspace_dim: int | None = None,
    seed: int = 0,
    progress: bool = True,
) -> SharpnessResult:
    """Keskar et al.'s epsilon-sharpness of ``model`` at its current weights.

    Args:
        model: the trained model; measured in place and restored exactly afterwards.
        batches: the batches ``L`` averages over (materialized once into a list; at least one).
        loss_fn: ``loss_fn(model, batch) -> scalar tensor``, the training loss of one batch; it
            must move the batch to the model's device itself if needed.
        eps: box size: ``|w'_i - w_i| <= eps * (|w_i| + 1)`` (> 0).
        steps: projected gradient-ascent steps (>= 1); ``steps + 1`` losses are evaluated.
        lr: Adam step size in units of the box half-width (> 0).
        subspace_dim: ``p`` for Keskar's random-subspace variant (>= 1), or ``None`` for the full
            parameter space. ``A`` (i.i.d. standard normal) needs ``4 * n * p`` bytes for ``n``
            parameters.
        seed: seed of the random start (and of ``A``).
        progress: show a tqdm progress bar.

    Returns:
        A :class:`SharpnessResult`.

    Raises:
        ValueError: empty ``batches``, a model without trainable parameters or with half-precision
            ones, ``eps``, ``steps``, ``lr`` or ``subspace_dim`` out of range (at most the number of
            trainable parameters), or a loss that is not a finite scalar.
    """
    import torch

    eps = check_number("eps", eps, minimum=0.0, inclusive=False)
    steps = check_step_count("steps", steps, minimum=1)
    lr = check_number("lr", lr, minimum=0.0, inclusive=False)
    if subspace_dim is not None:
        subspace_dim = check_step_count("subspace_dim", subspace_dim, minimum=1)
    seed = check_step_count("seed", seed)
    if not callable(loss_fn):
        raise ValueError(f"loss_fn must be callable as loss_fn(model, batch), got {loss_fn!r}")
    batches = list(batches)
    if not batches:
        raise ValueError("batches must hold at least 1 batch, got 0")
    params = [p for p in model.parameters() if p.requires_grad]
    if not params:
        raise ValueError("model must have at least 1 parameter with requires_grad=True, got 0")
    half = sorted({str(p.dtype) for p in params if p.dtype in (torch.float16, torch.bfloat16)})
    if half:
        raise ValueError(f"model parameters must be float32 or float64, got {', '.join(half)}: a half-precision "
                         "loss cannot resolve the change being measured; measure model.float()")
    count = sum(p.numel() for p in params)
    if subspace_dim is not None and subspace_dim > count:
        raise ValueError(f"subspace_dim must be <= the {count} trainable parameters, got {subspace_dim}")

    saved_params = [p.detach().clone() for p in model.parameters()]
    saved_grads = [p.grad for p in model.parameters()]
    saved_buffers = [b.detach().clone() for b in model.buffers()]
    saved_modes = [m.training for m in model.modules()]
    try:
        model.eval()
        return _measure(model, params, batches, loss_fn, eps, steps, lr, subspace_dim, seed, progress)
    finally:
        with torch.no_grad():
            for p, saved, grad in zip(model.parameters(), saved_params, saved_grads):
                p.copy_(saved)
                p.grad = grad
            for b, saved in zip(model.buffers(), saved_buffers):
                b.copy_(saved)
        for module, mode in zip(model.modules(), saved_modes):
            module.training = mode


def _work_dtype(tensor: torch.Tensor) -> torch.dtype:
    """float64 stays float64; float32 ascends in float32."""
    import torch

    return torch.float64 if tensor.dtype == torch.float64 else torch.float32


def _mean_loss(
    model: nn.Module, batches: list[Any], loss_fn: LossFn, params: list[nn.Parameter] | None
) -> tuple[float, list[torch.Tensor] | None]:
    """Mean loss over ``batches`` and, if ``params`` is given, its gradient (accumulated per batch)."""
    import torch

    total = 0.0
    grads = None if params is None else [torch.zeros_like(p) for p in params]
    for batch in batches:
        with torch.set_grad_enabled(params is not None):
            loss = loss_fn(model, batch)
            if not isinstance(loss, torch.Tensor) or loss.numel() != 1:
                raise ValueError(f"loss_fn must return a scalar tensor, got {loss!r}")
            value = float(loss.detach())
            if not math.isfinite(value):
                raise ValueError(f"loss_fn returned a non-finite loss: {value}")
            total += value
            if params is not None:
                parts = torch.autograd.grad(loss.reshape(()) / len(batches), params, allow_unused=True)
                for acc, part in zip(grads, parts):
                    if part is not None:
                        acc.add_(part)
    return total / len(batches), grads


def _measure(
    model: nn.Module,
    params: list[nn.Parameter],
    batches: list[Any],
    loss_fn: LossFn,
    eps: float,
    steps: int,
    lr: float,
    subspace_dim: int | None,
    seed: int,
    progress: bool,
) -> SharpnessResult:
    import torch
    from tqdm.auto import tqdm

    origin = [p.detach().clone() for p in params]
    base_loss, _ = _mean_loss(model, batches, loss_fn, None)
    generator = torch.Generator().manual_seed(seed)

    if subspace_dim is None:
        radius = [eps * (w.abs().to(_work_dtype(w)) + 1.0) for w in origin]
        z = [torch.rand(w.shape, generator=generator, dtype=_work_dtype(w)).mul_(2).sub_(1).to(w.device)
             for w in origin]
    else:
        # Keskar's random manifold: w' = w + A y, |y_j| <= eps (|(A^+ w)_j| + 1).
        basis = [torch.randn(w.numel(), subspace_dim, generator=generator).to(w.device) for w in origin]
        gram = sum((a.T @ a).cpu().double() for a in basis)
        projected = sum((a.T @ w.reshape(-1).float()).cpu().double() for a, w in zip(basis, origin))
        coords = torch.linalg.solve(gram, projected)  # A^+ w, A of full column rank
        radius = [(eps * (coords.abs() + 1.0)).float()]
        z = [torch.rand(subspace_dim, generator=generator).mul_(2).sub_(1)]
        basis_device = [a.device for a in basis]
    z = [t.requires_grad_() for t in z]
    optimizer = torch.optim.Adam(z, lr=lr, maximize=True)

    def place() -> None:
        with torch.no_grad():
            if subspace_dim is None:
                moves = [r * t for r, t in zip(radius, z)]
            else:
                y = radius[0] * z[0]
                moves = [(a @ y.to(d)).reshape(w.shape) for a, d, w in zip(basis, basis_device, origin)]
            for p, w, move in zip(params, origin, moves):
                p.copy_((w.to(move.dtype) + move).to(p.dtype))

    max_loss, best_step = base_loss, -1
    bar = tqdm(total=steps, desc="sharpness", unit="step", disable=not progress, leave=False)
    try:
        for step in range(steps + 1):
            place()
            loss, grads = _mean_loss(model, batches, loss_fn, params if step < steps else None)
            if loss > max_loss:
                max_loss, best_step = loss, step
            if step == steps:
                break
            optimizer.zero_grad(set_to_none=True)
            with torch.no_grad():
                if subspace_dim is None:
                    for t, r, g in zip(z, radius, grads):
                        t.grad = r * g.to(t.dtype)
                else:
                    chain = sum((a.T @ g.reshape(-1).float()).to(z[0].device) for a, g in zip(basis, grads))
                    z[0].grad = radius[0] * chain
            optimizer.step()
            with torch.no_grad():
                for t in z:
                    t.clamp_(-1.0, 1.0)
            bar.update()
            bar.set_postfix(loss=f"{loss:.4g}", max=f"{max_loss:.4g}", refresh=False)
    finally:
        bar.close()

    return SharpnessResult(
        value=100.0 * (max_loss - base_loss) / (1.0 + base_loss),
        loss=base_loss,
        max_loss=max_loss,
        eps=eps,
        steps=steps,
        lr=lr,
        batches=len(batches),
        subspace_dim=subspace_dim,
        seed=seed,
        best_step=best_step if best_step >= 0 else None,
    )
