"""Average the model weights of the last epoch checkpoints (fairseq's ``average_checkpoints``).

fairseq's ``scripts/average_checkpoints.py`` is not part of the installed package, so this is
the same computation: the element-wise mean of every ``model`` tensor (integer buffers use floor
division), written into a copy of the newest checkpoint so that ``fairseq-generate`` loads it
with its config. The output is written atomically.

Example::

    inputs = last_epoch_checkpoints(Path("checkpoints"), last_epoch=50, count=5)
    average_checkpoints(inputs, Path("checkpoints/checkpoint_avg5.pt"))
"""

from __future__ import annotations

from pathlib import Path

from knee_nlp.atomic import atomic_file


def last_epoch_checkpoints(save_dir: Path, last_epoch: int, count: int) -> list[Path]:
    """``checkpoint{E}.pt`` for the last ``count`` epochs up to ``last_epoch``, oldest first."""
    first = max(1, last_epoch - count + 1)
    paths = [save_dir / f"checkpoint{epoch}.pt" for epoch in range(first, last_epoch + 1)]
    missing = [path.name for path in paths if not path.is_file()]
    if missing:
        raise FileNotFoundError(f"{save_dir}: cannot average the last {len(paths)} epochs, "
                                f"missing {missing}")
    return paths


def average_checkpoints(inputs: list[Path], output: Path) -> Path:
    """Write the mean of ``inputs``' model weights to ``output``; returns ``output``."""
    import torch

    if not inputs:
        raise ValueError("average_checkpoints needs at least one input checkpoint")
    totals: dict[str, torch.Tensor] = {}
    state = None
    for path in inputs:
        state = torch.load(path, map_location="cpu", weights_only=False)
        model = state["model"]
        if totals and model.keys() != totals.keys():
            raise ValueError(f"{path} has different parameters from {inputs[0]}")
        for name, tensor in model.items():
            value = tensor.float() if tensor.is_floating_point() else tensor
            totals[name] = value.clone() if name not in totals else totals[name] + value
    count = len(inputs)
    state["model"] = {
        name: (total / count).to(state["model"][name].dtype) if total.is_floating_point()
        else total // count
        for name, total in totals.items()
    }
    with atomic_file(output) as work:
        torch.save(state, work)
    return output
