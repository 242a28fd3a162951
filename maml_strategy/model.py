"""Hierarchical multi-timeframe network.

One flat float32 input ``x: [B, T*F + C]`` (``T`` timeframe blocks of ``F``
features first, ``C`` cross-timeframe features last, the order of
``Features.flat()``) is mapped to one prediction per row, ``[B]`` (the
vol-scaled forward return).

Architecture (all layers are vmap- and double-backward-friendly: no
BatchNorm, no recurrent cells, no dropout)::

    x ──split──> per-timeframe blocks [T,B,F] ──encoder_t──> h [T,B,E]
      └────────> cross features [B,C] ──Linear, SiLU──> c [B,E]
    attention pooling over timeframes, query built from c:
        a = softmax_t(<h_t, W_q c + b_q> / sqrt(E))          [T,B]
        z = sum_t a_t h_t                                    [B,E]
    head: LayerNorm([z, c]) -> Linear(2E,H) -> SiLU -> Linear(H,1) -> [B]

``E = tf_hidden_dim`` (default ``hidden_dim // 2``) is the per-timeframe
width, ``H = hidden_dim`` the head width.

The per-timeframe encoders are separate MLPs (one weight set per timeframe),
stored as stacked ``[T, ...]`` tensors and applied with one ``baddbmm`` so that
a forward pass is a handful of kernels (fast adaptation on CPU).

Example:
    >>> import torch
    >>> net = HierarchicalTimeframeNet()
    >>> net(torch.zeros(4, net.input_dim)).shape
    torch.Size([4])
"""

from __future__ import annotations

import math
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from maml_strategy.errors import ConfigError, DataError

__all__ = ["HierarchicalTimeframeNet", "TimeframeEncoders", "LayerNorm"]


class LayerNorm(nn.Module):
    """LayerNorm over the last dimension with the affine part applied separately.

    Numerically the same as ``nn.LayerNorm``, but ``F.layer_norm`` is called
    *without* weight/bias: under ``vmap(grad(...))`` followed by an outer
    ``backward`` (second-order MAML), the fused affine layer_norm gives wrong
    meta-gradients in torch 2.x (batching rule of its backward, see
    pytorch/functorch#534); the unfused form is exact (checked against finite
    differences in ``tests/test_maml.py``).
    """

    def __init__(self, dim: int, eps: float = 1e-5) -> None:
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(dim))
        self.bias = nn.Parameter(torch.zeros(dim))

    def forward(self, x: Tensor) -> Tensor:
        return F.layer_norm(x, x.shape[-1:], eps=self.eps) * self.weight + self.bias


class TimeframeEncoders(nn.Module):
    """``T`` independent two-layer MLPs with LayerNorm, one per timeframe.

    Maps ``[T, B, F]`` to ``[T, B, H]`` (timeframe-major so that each layer is
    one batched matmul): ``h_t = W2_t SiLU(LN(W1_t x_t + b1_t)) + b2_t``.

    Args:
        num_timeframes: number of timeframe blocks ``T``.
        in_features: features per timeframe ``F``.
        hidden_dim: encoder width ``H``.
    """

    def __init__(self, num_timeframes: int, in_features: int, hidden_dim: int) -> None:
        super().__init__()
        T, F_, H = num_timeframes, in_features, hidden_dim
        self.w1 = nn.Parameter(torch.empty(T, F_, H))
        self.b1 = nn.Parameter(torch.zeros(T, 1, H))
        self.ln = LayerNorm(H)
        self.w2 = nn.Parameter(torch.empty(T, H, H))
        self.b2 = nn.Parameter(torch.zeros(T, 1, H))
        # Same scale as nn.Linear's default init.
        nn.init.uniform_(self.w1, -1.0 / math.sqrt(F_), 1.0 / math.sqrt(F_))
        nn.init.uniform_(self.w2, -1.0 / math.sqrt(H), 1.0 / math.sqrt(H))

    def forward(self, x: Tensor) -> Tensor:
        h = torch.baddbmm(self.b1, x, self.w1)  # [T,B,H]
        h = F.silu(self.ln(h))  # [T,B,H]
        return torch.baddbmm(self.b2, h, self.w2)  # [T,B,H]


class HierarchicalTimeframeNet(nn.Module):
    """Per-timeframe encoders, cross-conditioned attention fusion, MLP head.

    Args:
        num_timeframes: number of timeframe blocks ``T`` (e.g. D, W, M -> 3).
        features_per_tf: features per timeframe block ``F``.
        cross_tf_features: number of cross-timeframe features ``C``.
        hidden_dim: width ``H`` of the prediction head.
        tf_hidden_dim: width ``E`` of the per-timeframe encoders, the cross
            context and the attention (default ``hidden_dim // 2``).

    Attributes:
        input_dim: ``T*F + C``, the expected last dimension of ``x``.
        init_kwargs: constructor arguments (stored in saved model files).

    Example:
        >>> import torch
        >>> net = HierarchicalTimeframeNet(num_timeframes=2, features_per_tf=4,
        ...                                cross_tf_features=3, hidden_dim=16)
        >>> net(torch.randn(5, 11)).shape
        torch.Size([5])
    """

    def __init__(
        self,
        num_timeframes: int = 3,
        features_per_tf: int = 45,
        cross_tf_features: int = 8,
        hidden_dim: int = 128,
        tf_hidden_dim: int | None = None,
    ) -> None:
        super().__init__()
        for name, value, low in (
            ("num_timeframes", num_timeframes, 1),
            ("features_per_tf", features_per_tf, 1),
            ("cross_tf_features", cross_tf_features, 0),
            ("hidden_dim", hidden_dim, 1),
            ("tf_hidden_dim", hidden_dim // 2 if tf_hidden_dim is None else tf_hidden_dim, 1),
        ):
            if isinstance(value, bool) or not isinstance(value, int) or value < low:
                raise ConfigError(f"HierarchicalTimeframeNet: {name} must be an int >= {low}, got {value!r}")
        self.num_timeframes = num_timeframes
        self.features_per_tf = features_per_tf
        self.cross_tf_features = cross_tf_features
        self.hidden_dim = hidden_dim
        self.tf_hidden_dim = max(1, hidden_dim // 2) if tf_hidden_dim is None else tf_hidden_dim
        self.input_dim = num_timeframes * features_per_tf + cross_tf_features
        self.init_kwargs: dict[str, Any] = {
            "num_timeframes": num_timeframes,
            "features_per_tf": features_per_tf,
            "cross_tf_features": cross_tf_features,
            "hidden_dim": hidden_dim,
            "tf_hidden_dim": self.tf_hidden_dim,
        }
        E, H = self.tf_hidden_dim, hidden_dim
        self.encoders = TimeframeEncoders(num_timeframes, features_per_tf, E)
        # Cross-timeframe context c (a learned constant when there are no cross features).
        self.cross_proj = nn.Linear(cross_tf_features, E) if cross_tf_features > 0 else None
        self.cross_const = nn.Parameter(torch.zeros(E)) if cross_tf_features == 0 else None
        # Attention pooling over timeframes. The query is built from the cross context;
        # key and query projections are folded into one matrix: <W_k h, W_q c> = <h, W_k^T W_q c>.
        self.attn_query = nn.Linear(E, E)
        # Prediction head on [fused timeframes, cross context].
        self.head_ln = LayerNorm(2 * E)
        self.head_fc = nn.Linear(2 * E, H)
        self.head_out = nn.Linear(H, 1)
        with torch.no_grad():  # small initial predictions: labels are ~N(0, 1)
            self.head_out.weight.mul_(0.1)
            self.head_out.bias.zero_()

    def forward(self, x: Tensor) -> Tensor:
        """Predict one value per row.

        Args:
            x: ``[B, T*F + C]`` float tensor.

        Returns:
            ``[B]`` predictions.
        """
        if x.shape[-1] != self.input_dim:
            raise DataError(
                f"HierarchicalTimeframeNet expects x[..., {self.input_dim}] "
                f"({self.num_timeframes} timeframes x {self.features_per_tf} + {self.cross_tf_features} cross); "
                f"got last dimension {x.shape[-1]}. Build the model with the extractor's dimensions."
            )
        B = x.shape[0]
        T, F_, E = self.num_timeframes, self.features_per_tf, self.tf_hidden_dim
        x_tf = x[:, : T * F_].reshape(B, T, F_).transpose(0, 1)  # [T,B,F]
        h = self.encoders(x_tf)  # [T,B,E]

        if self.cross_proj is not None:
            c = F.silu(self.cross_proj(x[:, T * F_ :]))  # [B,E]
        else:
            c = self.cross_const.expand(B, E)  # [B,E]

        q = self.attn_query(c)  # [B,E]
        scores = (h * q).sum(-1) / math.sqrt(E)  # [T,B]
        attn = torch.softmax(scores, dim=0)  # [T,B]
        z = (attn.unsqueeze(-1) * h).sum(0)  # [B,E]

        u = self.head_ln(torch.cat([z, c], dim=-1))  # [B,2E]
        u = F.silu(self.head_fc(u))  # [B,H]
        return self.head_out(u).squeeze(-1)  # [B]

    def timeframe_attention(self, x: Tensor) -> Tensor:
        """Attention weights over timeframes, ``[B, T]`` (for inspection)."""
        with torch.no_grad():
            B = x.shape[0]
            T, F_, E = self.num_timeframes, self.features_per_tf, self.tf_hidden_dim
            h = self.encoders(x[:, : T * F_].reshape(B, T, F_).transpose(0, 1))
            c = F.silu(self.cross_proj(x[:, T * F_ :])) if self.cross_proj is not None else self.cross_const.expand(B, E)
            scores = (h * self.attn_query(c)).sum(-1) / math.sqrt(E)
            return torch.softmax(scores, dim=0).transpose(0, 1)
