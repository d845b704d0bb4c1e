"""Optimizers: LAMB (``pytorch_optimizer.Lamb``) and AdamW, without decay on biases and norms.

LAMB uses ``weight_decouple=False``: the decay term joins the Adam update *before* the trust
ratio, as in You et al. (2019) and NVIDIA's BERT recipe. Gradient clipping is done by the
training loop (``accelerator.clip_grad_norm_``), so LAMB's own ``pre_norm`` stays off.

>>> optimizer = build_optimizer(model, OptimizerConfig(name="lamb"), lr=6e-3)  # doctest: +SKIP
"""

from __future__ import annotations

import torch
from torch import nn

from hf_integration.pretrain_bert.config import OptimizerConfig


def parameter_groups(model: nn.Module, weight_decay: float) -> list[dict]:
    """Two groups: matrices decay, vectors (biases, LayerNorm weights) do not."""
    decay = [p for p in model.parameters() if p.requires_grad and p.ndim >= 2]
    no_decay = [p for p in model.parameters() if p.requires_grad and p.ndim < 2]
    return [{"params": decay, "weight_decay": weight_decay}, {"params": no_decay, "weight_decay": 0.0}]


def build_optimizer(model: nn.Module, cfg: OptimizerConfig, lr: float) -> torch.optim.Optimizer:
    """The optimizer named by ``cfg.name`` with peak LR ``lr`` (the scheduler scales it)."""
    groups = parameter_groups(model, cfg.weight_decay)
    if cfg.name == "lamb":
        from pytorch_optimizer import Lamb

        return Lamb(
            groups, lr=lr, betas=cfg.betas, eps=cfg.eps, weight_decay=cfg.weight_decay, weight_decouple=False
        )
    if cfg.name == "adamw":
        return torch.optim.AdamW(groups, lr=lr, betas=cfg.betas, eps=cfg.eps, weight_decay=cfg.weight_decay)
    raise ValueError(f"optimizer.name must be lamb or adamw, got {cfg.name!r}")
