"""Fixtures of the core tests."""

import pytest
import torch


class SpyAdamW(torch.optim.AdamW):
    """AdamW recording, at each step, the learning rate of every group and the gradient norm."""

    lrs: list[list[float]] = []
    grad_norms: list[float] = []

    def step(self, closure=None):
        type(self).lrs.append([g["lr"] for g in self.param_groups])
        grads = [p.grad for g in self.param_groups for p in g["params"] if p.grad is not None]
        type(self).grad_norms.append(
            float(
                torch.linalg.vector_norm(torch.stack([torch.linalg.vector_norm(g) for g in grads]))
            )
        )
        return super().step(closure)


@pytest.fixture
def spy_adamw(monkeypatch):
    """torch.optim.AdamW replaced by SpyAdamW (the Trainer builds its optimiser through it)."""
    SpyAdamW.lrs, SpyAdamW.grad_norms = [], []
    monkeypatch.setattr(torch.optim, "AdamW", SpyAdamW)
    return SpyAdamW
