"""Composite torch operations written as the steps that the rules know.

A normalisation layer is a mean, a square, a reciprocal square root and a product; attention is
two products and a softmax; a recurrent layer is the same cell, step by step. The engine runs
each of these functions in place of the fused torch call, with the interception mode active, so
that every step meets its rule (the rescale rule with closed-form secants for the powers, the
midpoint rule for products of two input-dependent tensors, the per-row softmax rule) and the
whole is exact: attributions sum to the change of the output. Nothing of the user's model
changes; the decompositions compute what the fused calls compute, in the same layout, up to
float rounding.

Every function here takes the arguments of the torch function it stands for (see
:data:`FUNCTIONS`). What a decomposition cannot explain (a norm over the batch axis, dropout in
training mode, packed sequences) raises ``NotImplementedError``, a ``RuntimeError``, which the
engine reports as an :class:`~seqlift.engine.ExplanationError` naming the module: a limitation
of seqlift, not a problem of the user's input.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
import torch.nn.functional as F

__all__ = ["FUNCTIONS", "MODULE_FORWARDS", "attention", "batch_first_attention"]


def _axes(normalized_shape: Sequence[int] | int) -> tuple[int, ...]:
    count = 1 if isinstance(normalized_shape, int) else len(normalized_shape)
    return tuple(range(-count, 0))


def _affine(x: torch.Tensor, weight: torch.Tensor | None, bias: torch.Tensor | None):
    if weight is not None:
        x = x * weight
    if bias is not None:
        x = x + bias
    return x


# -- normalisation -----------------------------------------------------------------------------


def layer_norm(input, normalized_shape, weight=None, bias=None, eps=1e-5, cudnn_enable=True):
    """``F.layer_norm``: ``(x - mean) * rsqrt(var + eps) * weight + bias`` over the last axes.

    ``cudnn_enable`` is the last argument of ``torch.layer_norm``, which some models call.
    """
    axes = _axes(normalized_shape)
    centred = input - input.mean(axes, keepdim=True)
    variance = centred.square().mean(axes, keepdim=True)
    return _affine(centred * torch.rsqrt(variance + eps), weight, bias)


def rms_norm(input, normalized_shape, weight=None, eps=None):
    """``F.rms_norm``: ``x * rsqrt(mean(x**2) + eps) * weight`` over the last axes."""
    axes = _axes(normalized_shape)
    if eps is None:
        eps = torch.finfo(input.dtype).eps
    scale = torch.rsqrt(input.square().mean(axes, keepdim=True) + eps)
    return _affine(input * scale, weight, None)


def group_norm(input, num_groups, weight=None, bias=None, eps=1e-5, cudnn_enabled=True):
    """``F.group_norm``: layer norm over each group of channels (and all positions).

    ``cudnn_enabled`` is the last argument of ``torch.group_norm``.
    """
    n, channels = input.shape[:2]
    grouped = input.reshape(n, num_groups, -1)
    centred = grouped - grouped.mean(-1, keepdim=True)
    variance = centred.square().mean(-1, keepdim=True)
    normed = (centred * torch.rsqrt(variance + eps)).reshape(input.shape)
    shape = (1, channels) + (1,) * (input.ndim - 2)
    return _affine(normed, None if weight is None else weight.reshape(shape),
                   None if bias is None else bias.reshape(shape))


def instance_norm(input, running_mean=None, running_var=None, weight=None, bias=None,
                  use_input_stats=True, momentum=0.1, eps=1e-5):
    """``F.instance_norm``: with input statistics, a layer norm over each channel's positions."""
    if not use_input_stats:  # running statistics: a fixed affine map, linear
        return F.batch_norm(input, running_mean, running_var, weight, bias, False, momentum, eps)
    axes = tuple(range(2, input.ndim))
    centred = input - input.mean(axes, keepdim=True)
    variance = centred.square().mean(axes, keepdim=True)
    shape = (1, input.shape[1]) + (1,) * (input.ndim - 2)
    return _affine(centred * torch.rsqrt(variance + eps),
                   None if weight is None else weight.reshape(shape),
                   None if bias is None else bias.reshape(shape))


def torch_instance_norm(input, weight, bias, running_mean, running_var, use_input_stats,
                        momentum, eps, cudnn_enabled=True):
    """``torch.instance_norm``, whose arguments come in another order than ``F.instance_norm``'s."""
    return instance_norm(input, running_mean, running_var, weight, bias, use_input_stats,
                         momentum, eps)


def glu(input, dim=-1):
    """``F.glu``: ``a * sigmoid(b)`` for the two halves of ``input`` along ``dim``."""
    a, b = input.chunk(2, dim)
    return a * torch.sigmoid(b)


# -- norms and variances -----------------------------------------------------------------------


def _over_every_axis(what: str) -> NotImplementedError:
    return NotImplementedError(
        f"{what} over every axis, the batch axis included, cannot be explained: DeepLIFT pairs "
        "every example with a reference along that axis. Give dim=... (the feature axes)"
    )


def _vector_norm(x, p, dim, keepdim):
    if dim is None:
        raise _over_every_axis("a norm")
    if p in (2, 2.0, "fro", None):
        return torch.sqrt(x.square().sum(dim, keepdim=keepdim))
    if p in (1, 1.0):
        return x.abs().sum(dim, keepdim=keepdim)
    if p in (math.inf, "inf"):
        return x.abs().amax(dim, keepdim=keepdim)
    if p in (-math.inf, "-inf"):
        return x.abs().amin(dim, keepdim=keepdim)
    if p in (0, 0.0):
        raise NotImplementedError("the 0-norm (a count of non-zero entries) is piecewise constant "
                                  "and has no DeepLIFT rule")
    return x.abs().pow(p).sum(dim, keepdim=keepdim).pow(1.0 / p)


def norm(input, p="fro", dim=None, keepdim=False, out=None, dtype=None):
    """``torch.norm`` / ``Tensor.norm`` over ``dim``."""
    if dtype is not None:
        input = input.to(dtype)
    return _vector_norm(input, p, dim, keepdim)


def vector_norm(x, ord=2, dim=None, keepdim=False, *, dtype=None, out=None):
    """``torch.linalg.vector_norm`` over ``dim``."""
    if dtype is not None:
        x = x.to(dtype)
    return _vector_norm(x, ord, dim, keepdim)


def normalize(input, p=2.0, dim=1, eps=1e-12, out=None):
    """``F.normalize``: ``x / max(norm(x), eps)``."""
    denominator = _vector_norm(input, p, dim, True).clamp_min(eps).expand_as(input)
    return input / denominator


def _variance_arguments(args: tuple, kwargs: dict) -> tuple:
    dim, correction, keepdim = kwargs.get("dim"), kwargs.get("correction"), \
        kwargs.get("keepdim", False)
    unbiased = kwargs.get("unbiased")
    rest = list(args)
    if rest and isinstance(rest[0], bool):  # var(x, unbiased)
        unbiased = rest.pop(0)
    if rest:
        dim = rest.pop(0)
    if rest and isinstance(rest[0], bool):
        if len(rest) > 1:  # var(x, dim, unbiased, keepdim)
            unbiased, keepdim = rest[0], rest[1]
        else:
            unbiased = rest[0]
    if correction is None:
        correction = 1 if unbiased is None or unbiased else 0
    return dim, correction, keepdim


def var(input, *args, **kwargs):
    """``torch.var`` / ``Tensor.var``: ``sum((x - mean)**2) / (n - correction)``."""
    dim, correction, keepdim = _variance_arguments(args, kwargs)
    if dim is None:
        raise _over_every_axis("a variance")
    dims = (dim,) if isinstance(dim, int) else tuple(dim)
    count = math.prod(input.shape[d] for d in dims)
    centred = input - input.mean(dims, keepdim=True)
    return centred.square().sum(dims, keepdim=keepdim) / max(count - correction, 0)


def std(input, *args, **kwargs):
    """``torch.std`` / ``Tensor.std``: the square root of :func:`var`."""
    return torch.sqrt(var(input, *args, **kwargs))


def _mean_over(input, args: tuple, kwargs: dict) -> torch.Tensor:
    dim, _, keepdim = _variance_arguments(args, kwargs)
    return input.mean(dim, keepdim=keepdim)


def var_mean(input, *args, **kwargs):
    """``torch.var_mean``: ``(var, mean)``, as hand-written layer norms call it."""
    return var(input, *args, **kwargs), _mean_over(input, args, kwargs)


def std_mean(input, *args, **kwargs):
    """``torch.std_mean``: ``(std, mean)``."""
    return std(input, *args, **kwargs), _mean_over(input, args, kwargs)


def _refuse_unexplainable(what: str, random: bool, input: torch.Tensor, batched: str) -> None:
    """Refuse dropout in training mode (random) and unbatched inputs (no batch axis to pair)."""
    if random:
        raise NotImplementedError(f"{what} with dropout in training mode is random; DeepLIFT "
                                  "needs the model in eval mode")
    if input.ndim != 3:
        raise NotImplementedError(f"seqlift explains {what} on batched inputs, {batched}; got "
                                  f"shape {tuple(input.shape)}")


# -- attention -----------------------------------------------------------------------------------


def _as_additive(mask: torch.Tensor | None, dtype: torch.dtype, masked_when: bool):
    """A boolean mask as 0 / -inf (``-inf`` where it equals ``masked_when``); floats unchanged."""
    if mask is None or mask.is_floating_point():
        return mask
    blocked = mask if masked_when else ~mask
    return torch.zeros(mask.shape, dtype=dtype, device=mask.device).masked_fill(
        blocked, float("-inf"))


def attention(query, key, value, bias=None, scale=None):
    """``softmax(query @ key^T * scale + bias) @ value``, batch axis first.

    Parameters
    ----------
    query : torch.Tensor
        ``(batch, ..., L, E)``.
    key, value : torch.Tensor
        ``(batch, ..., S, E)`` and ``(batch, ..., S, Ev)``.
    bias : torch.Tensor, optional
        Added to the scores, broadcast to ``(batch, ..., L, S)`` (``-inf`` masks).
    scale : float, optional
        Default ``1 / sqrt(E)``.

    Returns
    -------
    tuple of torch.Tensor
        The output ``(batch, ..., L, Ev)`` and the attention weights ``(batch, ..., L, S)``.
    """
    if scale is None:
        scale = 1.0 / math.sqrt(query.shape[-1])
    scores = (query * scale) @ key.transpose(-2, -1)
    if bias is not None:
        scores = scores + bias
    weights = torch.softmax(scores, dim=-1)
    return weights @ value, weights


def scaled_dot_product_attention(query, key, value, attn_mask=None, dropout_p=0.0,
                                 is_causal=False, scale=None, enable_gqa=False):
    """``F.scaled_dot_product_attention`` (masks, ``is_causal``, ``enable_gqa``), decomposed."""
    if dropout_p:
        raise NotImplementedError(
            f"scaled_dot_product_attention with dropout_p={dropout_p} is random; DeepLIFT needs "
            "a deterministic model. Pass dropout_p=0.0 when the model is not training"
        )
    length, source = query.shape[-2], key.shape[-2]
    bias = _as_additive(attn_mask, query.dtype, masked_when=False)
    if is_causal:
        causal = torch.ones(length, source, dtype=torch.bool, device=query.device).tril()
        bias = _as_additive(causal, query.dtype, masked_when=False)
    if enable_gqa and key.shape[-3] != query.shape[-3]:
        repeats = query.shape[-3] // key.shape[-3]
        key = key.repeat_interleave(repeats, dim=-3)
        value = value.repeat_interleave(repeats, dim=-3)
    output, _ = attention(query, key, value, bias, scale)
    return output


def _projections(query, key, value, in_proj_weight, in_proj_bias, separate, q_weight, k_weight,
                 v_weight):
    biases = (None, None, None) if in_proj_bias is None else in_proj_bias.chunk(3)
    if separate:
        weights = (q_weight, k_weight, v_weight)
    else:
        weights = in_proj_weight.chunk(3)
    return tuple(F.linear(x, w, b) for x, w, b in zip((query, key, value), weights, biases,
                                                      strict=True))


def _attention_bias(attn_mask, key_padding_mask, n, heads, length, source, dtype):
    """The additive mask ``(n, heads, length, source)`` of ``nn.MultiheadAttention``."""
    bias = None
    mask = _as_additive(attn_mask, dtype, masked_when=True)
    if mask is not None:
        bias = mask.reshape(n, heads, length, source) if mask.ndim == 3 else mask
    padding = _as_additive(key_padding_mask, dtype, masked_when=True)
    if padding is not None:
        padding = padding.reshape(n, 1, 1, source)
        bias = padding if bias is None else bias + padding
    return bias


def batch_first_attention(query, key, value, num_heads, in_proj_weight, in_proj_bias,
                          out_proj_weight, out_proj_bias, bias_k=None, bias_v=None,
                          add_zero_attn=False, key_padding_mask=None, need_weights=True,
                          attn_mask=None, separate_weights=(None, None, None),
                          static_k=None, static_v=None, average_attn_weights=True,
                          is_causal=False):
    """``nn.MultiheadAttention`` on ``(batch, length, embed)`` inputs, decomposed.

    Returns ``(output, weights)`` as ``nn.MultiheadAttention`` with ``batch_first=True``.
    """
    n, length, embed = query.shape
    head = embed // num_heads
    q, k, v = _projections(query, key, value, in_proj_weight, in_proj_bias,
                           separate_weights[0] is not None, *separate_weights)
    if bias_k is not None:
        k = torch.cat([k, bias_k.reshape(1, 1, embed).expand(n, 1, embed)], dim=1)
        v = torch.cat([v, bias_v.reshape(1, 1, embed).expand(n, 1, embed)], dim=1)
        attn_mask = None if attn_mask is None else F.pad(attn_mask, (0, 1))
        key_padding_mask = None if key_padding_mask is None else F.pad(key_padding_mask, (0, 1))
    q = q.reshape(n, length, num_heads, head).transpose(1, 2)
    k = (static_k.reshape(n, num_heads, -1, head) if static_k is not None
         else k.reshape(n, k.shape[1], num_heads, head).transpose(1, 2))
    v = (static_v.reshape(n, num_heads, -1, head) if static_v is not None
         else v.reshape(n, v.shape[1], num_heads, head).transpose(1, 2))
    if add_zero_attn:
        k = torch.cat([k, k.new_zeros(n, num_heads, 1, head)], dim=2)
        v = torch.cat([v, v.new_zeros(n, num_heads, 1, head)], dim=2)
        attn_mask = None if attn_mask is None else F.pad(attn_mask, (0, 1))
        key_padding_mask = None if key_padding_mask is None else F.pad(key_padding_mask, (0, 1))
    source = k.shape[2]
    if attn_mask is None and is_causal:
        attn_mask = torch.ones(length, source, dtype=torch.bool, device=q.device).triu(1)
    bias = _attention_bias(attn_mask, key_padding_mask, n, num_heads, length, source, q.dtype)
    output, weights = attention(q, k, v, bias)
    output = F.linear(output.transpose(1, 2).reshape(n, length, embed), out_proj_weight,
                      out_proj_bias)
    if not need_weights:
        return output, None
    return output, weights.mean(dim=1) if average_attn_weights else weights


def multi_head_attention_forward(query, key, value, embed_dim_to_check, num_heads,
                                 in_proj_weight, in_proj_bias, bias_k, bias_v, add_zero_attn,
                                 dropout_p, out_proj_weight, out_proj_bias, training=True,
                                 key_padding_mask=None, need_weights=True, attn_mask=None,
                                 use_separate_proj_weight=False, q_proj_weight=None,
                                 k_proj_weight=None, v_proj_weight=None, static_k=None,
                                 static_v=None, average_attn_weights=True, is_causal=False):
    """``F.multi_head_attention_forward`` (sequence-first ``(L, N, E)``), decomposed."""
    _refuse_unexplainable("multi-head attention", training and dropout_p, query,
                          "(L, N, E) inputs")
    separate = (q_proj_weight, k_proj_weight, v_proj_weight) if use_separate_proj_weight \
        else (None, None, None)
    output, weights = batch_first_attention(
        query.transpose(0, 1), key.transpose(0, 1), value.transpose(0, 1), num_heads,
        in_proj_weight, in_proj_bias, out_proj_weight, out_proj_bias, bias_k, bias_v,
        add_zero_attn, key_padding_mask, need_weights, attn_mask, separate, static_k, static_v,
        average_attn_weights, is_causal)
    return output.transpose(0, 1), weights


# -- recurrent layers ----------------------------------------------------------------------------


def _lstm_cell(x, state, weights):
    h, c = state
    w_ih, w_hh, b_ih, b_hh, w_hr = weights
    gates = F.linear(x, w_ih, b_ih) + F.linear(h, w_hh, b_hh)
    i, f, g, o = gates.chunk(4, dim=-1)
    c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
    h = torch.sigmoid(o) * torch.tanh(c)
    if w_hr is not None:
        h = F.linear(h, w_hr)
    return h, (h, c)


def _gru_cell(x, state, weights):
    (h,) = state
    w_ih, w_hh, b_ih, b_hh, _ = weights
    i_r, i_z, i_n = F.linear(x, w_ih, b_ih).chunk(3, dim=-1)
    h_r, h_z, h_n = F.linear(h, w_hh, b_hh).chunk(3, dim=-1)
    r = torch.sigmoid(i_r + h_r)
    z = torch.sigmoid(i_z + h_z)
    n = torch.tanh(i_n + r * h_n)
    h = n + z * (h - n)
    return h, (h,)


def _rnn_cell(activation):
    def cell(x, state, weights):
        (h,) = state
        w_ih, w_hh, b_ih, b_hh, _ = weights
        h = activation(F.linear(x, w_ih, b_ih) + F.linear(h, w_hh, b_hh))
        return h, (h,)

    return cell


def _layer_weights(params, has_biases, n_layers, n_directions):
    """Per (layer, direction): ``(w_ih, w_hh, b_ih, b_hh, w_hr)``, absent ones None."""
    per = len(params) // (n_layers * n_directions)
    groups = []
    for index in range(n_layers * n_directions):
        chunk = list(params[index * per:(index + 1) * per])
        w_ih, w_hh = chunk[0], chunk[1]
        b_ih, b_hh = (chunk[2], chunk[3]) if has_biases else (None, None)
        w_hr = chunk[-1] if per in (3, 5) else None
        groups.append((w_ih, w_hh, b_ih, b_hh, w_hr))
    return groups


def _recurrence(cell, input, states, params, has_biases, num_layers, dropout, train,
                bidirectional, batch_first):
    """Run ``cell`` step by step; returns the output and the final states per layer/direction."""
    if not isinstance(states, (list, tuple)) or isinstance(states, torch.Tensor):
        states = (states,)
    _refuse_unexplainable("a recurrent layer", train and dropout, input,
                          "(batch, length, features) or (length, batch, features) inputs")
    n_directions = 2 if bidirectional else 1
    weights = _layer_weights(params, has_biases, num_layers, n_directions)
    steps = list(input.unbind(1 if batch_first else 0))
    finals: list[tuple] = []
    for layer in range(num_layers):
        outputs = []
        for direction in range(n_directions):
            index = layer * n_directions + direction
            state = tuple(s[index] for s in states)
            order = range(len(steps)) if direction == 0 else range(len(steps) - 1, -1, -1)
            produced = [None] * len(steps)
            for t in order:
                produced[t], state = cell(steps[t], state, weights[index])
            outputs.append(produced)
            finals.append(state)
        steps = [torch.cat([o[t] for o in outputs], dim=-1) if n_directions > 1 else outputs[0][t]
                 for t in range(len(steps))]
    output = torch.stack(steps, dim=1 if batch_first else 0)
    return output, tuple(torch.stack([f[i] for f in finals]) for i in range(len(states)))


def _refuse_packed(hx) -> None:
    if isinstance(hx, torch.Tensor) and hx.ndim == 1:  # torch.lstm(data, batch_sizes, ...)
        raise NotImplementedError("seqlift explains recurrent layers on padded tensors, not "
                                  "packed sequences (PackedSequence); pad the sequences instead")


def lstm(input, hx, params, has_biases, num_layers, dropout, train, bidirectional, batch_first):
    """``torch.lstm`` (what ``nn.LSTM`` calls): ``(output, h_n, c_n)``, step by step."""
    _refuse_packed(hx)
    output, (h, c) = _recurrence(_lstm_cell, input, hx, params, has_biases, num_layers,
                                 dropout, train, bidirectional, batch_first)
    return output, h, c


def gru(input, hx, params, has_biases, num_layers, dropout, train, bidirectional, batch_first):
    """``torch.gru`` (what ``nn.GRU`` calls): ``(output, h_n)``, step by step."""
    _refuse_packed(hx)
    output, (h,) = _recurrence(_gru_cell, input, hx, params, has_biases, num_layers, dropout,
                               train, bidirectional, batch_first)
    return output, h


def _simple_rnn(activation, module: str):
    def rnn(input, hx, params, has_biases, num_layers, dropout, train, bidirectional,
            batch_first):
        _refuse_packed(hx)
        output, (h,) = _recurrence(_rnn_cell(activation), input, hx, params, has_biases,
                                   num_layers, dropout, train, bidirectional, batch_first)
        return output, h

    rnn.__name__ = rnn.__qualname__ = f"rnn_{activation.__name__}"
    rnn.__doc__ = f"``torch.{rnn.__name__}`` (``{module}``): ``(output, h_n)``, step by step."
    return rnn


rnn_tanh = _simple_rnn(torch.tanh, "nn.RNN")
rnn_relu = _simple_rnn(torch.relu, 'nn.RNN(nonlinearity="relu")')


#: The torch functions run as their decomposition, and the function that decomposes each.
FUNCTIONS = {
    F.layer_norm: layer_norm, torch.layer_norm: layer_norm,
    F.rms_norm: rms_norm, torch.rms_norm: rms_norm,
    F.group_norm: group_norm, torch.group_norm: group_norm,
    F.instance_norm: instance_norm, torch.instance_norm: torch_instance_norm,
    F.glu: glu, torch._C._nn.glu: glu,
    torch.norm: norm, torch.Tensor.norm: norm, torch.linalg.vector_norm: vector_norm,
    F.normalize: normalize,
    torch.var: var, torch.Tensor.var: var, torch.std: std, torch.Tensor.std: std,
    torch.var_mean: var_mean, torch.std_mean: std_mean,
    F.scaled_dot_product_attention: scaled_dot_product_attention,
    F.multi_head_attention_forward: multi_head_attention_forward,
    torch.lstm: lstm, torch.gru: gru, torch.rnn_tanh: rnn_tanh, torch.rnn_relu: rnn_relu,
}


# -- transformer layers --------------------------------------------------------------------------


def _self_attention(attention_module, x, mask, padding_mask, is_causal):
    return _attend(attention_module, x, x, mask, padding_mask, is_causal)


def _attend(attention_module, x, memory, mask, padding_mask, is_causal):
    """``nn.MultiheadAttention`` on batch-first tensors, whatever its ``batch_first``."""
    m = attention_module
    separate = (None, None, None) if m._qkv_same_embed_dim else \
        (m.q_proj_weight, m.k_proj_weight, m.v_proj_weight)
    output, _ = batch_first_attention(
        x, memory, memory, m.num_heads, m.in_proj_weight, m.in_proj_bias, m.out_proj.weight,
        m.out_proj.bias, m.bias_k, m.bias_v, m.add_zero_attn, padding_mask, False, mask,
        separate, is_causal=is_causal)
    return output


def _feed_forward(layer, x):
    return layer.linear2(layer.dropout(layer.activation(layer.linear1(x))))


def encoder_layer_forward(layer, src, src_mask=None, src_key_padding_mask=None, is_causal=False):
    """``nn.TransformerEncoderLayer.forward``, with the batch axis first inside.

    The layer's own submodules and weights run in the order of torch's implementation; only
    the layout is batch-first throughout, so that every element-wise step sees the batch first.
    """
    batch_first = layer.self_attn.batch_first
    x = src if batch_first else src.transpose(0, 1)
    attend = _self_attention
    if layer.norm_first:
        x = x + layer.dropout1(attend(layer.self_attn, layer.norm1(x), src_mask,
                                      src_key_padding_mask, is_causal))
        x = x + layer.dropout2(_feed_forward(layer, layer.norm2(x)))
    else:
        x = layer.norm1(x + layer.dropout1(attend(layer.self_attn, x, src_mask,
                                                  src_key_padding_mask, is_causal)))
        x = layer.norm2(x + layer.dropout2(_feed_forward(layer, x)))
    return x if batch_first else x.transpose(0, 1)


def decoder_layer_forward(layer, tgt, memory, tgt_mask=None, memory_mask=None,
                          tgt_key_padding_mask=None, memory_key_padding_mask=None,
                          tgt_is_causal=False, memory_is_causal=False):
    """``nn.TransformerDecoderLayer.forward``, with the batch axis first inside."""
    batch_first = layer.self_attn.batch_first
    x = tgt if batch_first else tgt.transpose(0, 1)
    memory = memory if batch_first else memory.transpose(0, 1)

    def self_block(x):
        return layer.dropout1(_self_attention(layer.self_attn, x, tgt_mask,
                                              tgt_key_padding_mask, tgt_is_causal))

    def cross_block(x):
        return layer.dropout2(_attend(layer.multihead_attn, x, memory, memory_mask,
                                      memory_key_padding_mask, memory_is_causal))

    if layer.norm_first:
        x = x + self_block(layer.norm1(x))
        x = x + cross_block(layer.norm2(x))
        x = x + layer.dropout3(_feed_forward(layer, layer.norm3(x)))
    else:
        x = layer.norm1(x + self_block(x))
        x = layer.norm2(x + cross_block(x))
        x = layer.norm3(x + layer.dropout3(_feed_forward(layer, x)))
    return x if batch_first else x.transpose(0, 1)


#: Modules (matched by exact class) whose ``forward`` the engine replaces for the call.
MODULE_FORWARDS = {
    torch.nn.TransformerEncoderLayer: encoder_layer_forward,
    torch.nn.TransformerDecoderLayer: decoder_layer_forward,
}
