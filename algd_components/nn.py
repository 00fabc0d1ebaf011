"""Batched ensembles of MLPs with stacked parameters.

One :class:`EnsembleMLP` holds ``M`` independent MLPs as stacked weight tensors
``[M, in, out]`` and evaluates all members with one batched matmul per layer: no Python
loop over members.  Both the cost-critic ensemble (paper Table 3: ``EnsembleFC`` layers)
and the twin reward critic (``M = 2``) are built on it.
"""
from __future__ import annotations

import math
from typing import Sequence

import torch
from torch import nn

__all__ = ["EnsembleLinear", "EnsembleMLP", "SiLU", "INIT_SCHEMES", "init_linear_"]

# weight initialisations: PyTorch's nn.Linear default, Xavier-uniform with zero bias (the
# released ALGD code's twin critic and score network), truncated normal std 1/(2 sqrt(in)) within
# two std with zero bias (its cost ensemble, the MBPO-style EnsembleFC)
INIT_SCHEMES = ("torch", "xavier", "trunc_normal")


def init_linear_(weight: torch.Tensor, bias: torch.Tensor | None, in_features: int, scheme: str) -> None:
    """Re-initialise one linear layer's ``weight`` (any layout; Xavier is symmetric in fan-in
    and fan-out) and ``bias`` in place by ``scheme`` (not ``"torch"``: that is the constructor's)."""
    with torch.no_grad():
        if scheme == "xavier":
            nn.init.xavier_uniform_(weight, gain=1.0)
        elif scheme == "trunc_normal":
            std = 1.0 / (2.0 * math.sqrt(in_features))
            nn.init.trunc_normal_(weight, std=std, a=-2 * std, b=2 * std)
        else:
            raise ValueError(f"init scheme {scheme!r} is not one of {list(INIT_SCHEMES[1:])}")
        if bias is not None:
            bias.zero_()


def _batch_front(t: torch.Tensor, dim, size: int) -> torch.Tensor:
    return t.movedim(dim, 0) if dim is not None else t.expand(size, *t.shape)


class _SiLUGrad(torch.autograd.Function):
    """``silu_backward`` with a batching rule: functorch has none and decomposes it into five
    element-wise passes when a gradient is taken inside ``vmap`` (the Monte-Carlo action
    gradient of stacked seeds); one fused call on the unbatched tensors instead."""

    @staticmethod
    def forward(grad, x):
        return torch.ops.aten.silu_backward(grad, x)

    @staticmethod
    def setup_context(ctx, inputs, output):
        pass

    @staticmethod
    def backward(ctx, grad):
        raise RuntimeError("SiLU's second derivative is not implemented")

    @staticmethod
    def vmap(info, in_dims, grad, x):
        n = info.batch_size
        grad, x = torch.broadcast_tensors(_batch_front(grad, in_dims[0], n), _batch_front(x, in_dims[1], n))
        return _SiLUGrad.apply(grad, x), 0


class _SiLUFn(torch.autograd.Function):
    @staticmethod
    def forward(x):
        return torch.nn.functional.silu(x)

    @staticmethod
    def setup_context(ctx, inputs, output):
        ctx.save_for_backward(inputs[0])

    @staticmethod
    def backward(ctx, grad):
        (x,) = ctx.saved_tensors
        return _SiLUGrad.apply(grad, x)

    @staticmethod
    def vmap(info, in_dims, x):
        return _SiLUFn.apply(x), in_dims[0]


class SiLU(nn.SiLU):
    """:class:`torch.nn.SiLU`, the same numbers; inside functorch transforms (stacked seeds'
    ``vmap``) its backward is one fused ``silu_backward`` instead of functorch's five-pass
    decomposition (measured: 2.2x faster for the Monte-Carlo action gradient, studies/performance_log/REPORT.md)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if torch._C._are_functorch_transforms_active():
            return _SiLUFn.apply(x)
        return super().forward(x)


class EnsembleLinear(nn.Module):
    """``M`` independent linear layers, weights ``[M, in, out]``, biases ``[M, 1, out]``.

    Each member is initialised independently with :class:`torch.nn.Linear`'s default
    scheme (uniform in ``±1/sqrt(in)``).
    """

    def __init__(self, num_members: int, in_features: int, out_features: int):
        super().__init__()
        self.num_members = num_members
        self.in_features = in_features
        self.out_features = out_features
        self.weight = nn.Parameter(torch.empty(num_members, in_features, out_features))
        self.bias = nn.Parameter(torch.empty(num_members, 1, out_features))
        self.reset_parameters()

    def reset_parameters(self) -> None:
        bound = 1.0 / math.sqrt(self.in_features)
        nn.init.uniform_(self.weight, -bound, bound)
        nn.init.uniform_(self.bias, -bound, bound)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``x``: ``[N, in]`` (shared by all members) or ``[M, N, in]`` → ``[M, N, out]``."""
        if x.dim() == 2:
            # an explicit expand + bmm: matmul's 2-D @ 3-D path back-propagates more slowly
            x = x.expand(self.num_members, *x.shape)
        if torch._C._are_functorch_transforms_active():
            # under vmap (stacked seeds) baddbmm decomposes into bmm, two scalings and an add;
            # bmm + add is the same sum without the scalings
            return torch.bmm(x, self.weight) + self.bias
        return torch.baddbmm(self.bias, x, self.weight)

    def extra_repr(self) -> str:
        return f"num_members={self.num_members}, in_features={self.in_features}, out_features={self.out_features}"


class EnsembleMLP(nn.Module):
    """``M`` MLPs with identical shapes and independent weights, evaluated in one call.

    ``forward(*inputs)`` concatenates the inputs on their last dimension (broadcasting
    their leading dimensions, so an observation ``[B, o]`` pairs with Monte-Carlo actions
    ``[N, B, a]``) and returns ``[*batch, M, out_features]``.

    Args:
        in_features: size of the concatenated input.
        out_features: size of each member's output.
        num_members: ``M`` ≥ 1.
        num_cells: hidden layer sizes.
        activation_class: activation between layers.
    """

    def __init__(
        self,
        in_features: int,
        out_features: int,
        num_members: int,
        num_cells: Sequence[int] = (256, 256),
        activation_class: type[nn.Module] = nn.ReLU,
    ):
        super().__init__()
        if int(num_members) != num_members or num_members < 1:
            raise ValueError(f"num_members (M) must be an integer >= 1, got {num_members!r}")
        sizes = [in_features, *num_cells, out_features]
        if any(int(s) != s or s < 1 for s in sizes):
            raise ValueError(f"layer sizes must be integers >= 1, got {sizes}")
        self.num_members = int(num_members)
        self.in_features = in_features
        self.out_features = out_features
        self.layers = nn.ModuleList(
            EnsembleLinear(self.num_members, a, b) for a, b in zip(sizes[:-1], sizes[1:])
        )
        self.activation = activation_class()

    def forward(self, *inputs: torch.Tensor) -> torch.Tensor:
        sizes = [t.shape[-1] for t in inputs]
        if sum(sizes) != self.in_features:
            raise ValueError(
                f"inputs concatenate to {sum(sizes)} features, expected in_features={self.in_features}"
            )
        batch = torch.broadcast_shapes(*(t.shape[:-1] for t in inputs))
        x = self._first_layer(inputs, sizes, batch)
        for layer in self.layers[1:]:
            x = layer(self.activation(x))
        # [M, N, out] -> [*batch, M, out]
        return x.transpose(0, 1).reshape(*batch, self.num_members, self.out_features)

    def _first_layer(self, inputs, sizes, batch) -> torch.Tensor:
        """First layer as a sum of per-input products, each on its own batch shape.

        With an observation ``[B, o]`` and Monte-Carlo actions ``[N, B, a]`` the
        observation's share is computed once per ``B`` instead of ``N·B`` times, and the
        gradient w.r.t. the actions only involves the action columns.  Equal to
        ``cat(inputs) @ W + b``.
        """
        first, m = self.layers[0], self.num_members
        if len(inputs) == 1:
            return first(inputs[0].reshape(-1, sizes[0]))
        out = first.out_features
        parts, offset = [], 0
        for t, d in zip(inputs, sizes):
            tb = t.shape[:-1]
            flat = t.reshape(1, -1, d).expand(m, -1, d)
            part = torch.bmm(flat, first.weight[:, offset : offset + d])  # [M, n_t, out]
            parts.append(part.reshape(m, *([1] * (len(batch) - len(tb))), *tb, out))  # right-aligned batch dims
            offset += d
        # the bias joins the smallest part, so only one pass runs over the full-size result
        parts.sort(key=lambda p: p.numel())
        parts[0] = parts[0] + first.bias.reshape(m, *([1] * len(batch)), out)
        h = parts[0]
        for p in parts[1:]:
            h = h + p  # out of place: an in-place add on a reshaped view costs copies in backward
        full = (m, *batch, out)
        return h.expand(full).reshape(m, -1, out)

    def reset_parameters(self, scheme: str = "torch") -> None:
        """Re-initialise every member's layers by one of :data:`INIT_SCHEMES`."""
        for layer in self.layers:
            if scheme == "torch":
                layer.reset_parameters()
            else:
                for m in range(self.num_members):
                    init_linear_(layer.weight[m], layer.bias[m], layer.in_features, scheme)

    def member(self, index: int) -> nn.Sequential:
        """A standalone ``nn.Sequential`` copy of member ``index`` (for inspection/tests)."""
        mods = []
        device = self.layers[0].weight.device
        for i, layer in enumerate(self.layers):
            # built on the meta device: no initialisation, so no global RNG draws
            lin = nn.Linear(layer.in_features, layer.out_features, device="meta").to_empty(device=device)
            with torch.no_grad():
                lin.weight.copy_(layer.weight[index].T)
                lin.bias.copy_(layer.bias[index, 0])
            mods.append(lin)
            if i < len(self.layers) - 1:
                mods.append(type(self.activation)())
        return nn.Sequential(*mods)

    def param_groups(self, weight_decay: Sequence[float] | float = 0.0, **group_kwargs) -> list[dict]:
        """Optimizer parameter groups, one per layer, with per-layer weight decay.

        ``weight_decay`` is a float (all layers) or one value per layer; paper Table 3
        uses ``(3e-5, 6e-5, 1e-4)`` for the cost ensemble.
        """
        if isinstance(weight_decay, (int, float)):
            weight_decay = [float(weight_decay)] * len(self.layers)
        weight_decay = list(weight_decay)
        if len(weight_decay) != len(self.layers):
            raise ValueError(
                f"weight_decay needs one value per layer ({len(self.layers)}), got {weight_decay}"
            )
        if any(not wd >= 0 for wd in weight_decay):
            raise ValueError(f"weight_decay values must be >= 0, got {weight_decay}")
        return [
            {"params": list(layer.parameters()), "weight_decay": wd, **group_kwargs}
            for layer, wd in zip(self.layers, weight_decay)
        ]
