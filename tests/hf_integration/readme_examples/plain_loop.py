"""A plain PyTorch loop with get_knee_schedule_with_warmup (runs on CPU in about a second)."""

import torch

from hf_integration import get_knee_schedule_with_warmup

torch.manual_seed(0)
model = torch.nn.Linear(16, 1)
optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)
scheduler = get_knee_schedule_with_warmup(
    optimizer, num_warmup_steps=10, num_training_steps=100, explore_ratio=0.5
)  # warmup 10 steps, hold 1e-3 for 50 steps, decay to 0 at step 100
inputs, targets = torch.randn(256, 16), torch.randn(256, 1)
for step in range(1, 101):
    loss = torch.nn.functional.mse_loss(model(inputs), targets)
    loss.backward()
    optimizer.step()
    scheduler.step()
    optimizer.zero_grad()
    if step % 10 == 0:
        print(f"step {step:3d}  lr {scheduler.get_last_lr()[0]:.2e}  loss {loss.item():.4f}")
