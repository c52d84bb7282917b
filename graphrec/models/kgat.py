r"""KGAT: Knowledge Graph Attention Network (Wang et al., KDD 2019).

Every CKG node has an embedding :math:`e_h \in \mathbb R^d`, every canonical
relation :math:`r` (interacts, the KG relations, and the reverse of each; see
:mod:`graphrec.models.ckg`) an embedding :math:`e_r \in \mathbb R^k` and a
TransR projection :math:`W_r \in \mathbb R^{d \times k}` (row-vector
convention: :math:`e W_r`).

**Attention** over the triples :math:`(h, r, t)` of the CKG, from the layer-0
embeddings and normalised over each head's triples
(:func:`torch_geometric.utils.softmax` grouped by head):

.. math::
    \pi(h, r, t) = (W_r e_t)^\top \tanh(W_r e_h + e_r), \qquad
    \tilde\pi(h, r, t) = \frac{\exp \pi(h, r, t)}{\sum_{(h, r', t') \in N_h} \exp \pi(h, r', t')} .

**Propagation**, layer :math:`l` (sizes ``layer_sizes``), with
:math:`e^{(0)} = e`:

.. math::
    e^{(l)}_{N_h} = \sum_{(h, r, t) \in N_h} \tilde\pi(h, r, t)\, e^{(l)}_t, \qquad
    e^{(l+1)}_h = \mathrm{LeakyReLU}\big(W_1 (e^{(l)}_h + e^{(l)}_{N_h})\big)
                + \mathrm{LeakyReLU}\big(W_2 (e^{(l)}_h \odot e^{(l)}_{N_h})\big)

(the bi-interaction aggregator, the paper's best; ``aggregator='gcn'`` keeps
the first term, ``'graphsage'`` is :math:`\mathrm{LeakyReLU}(W(e_h \Vert e_{N_h}))`),
each :math:`W` with a bias, LeakyReLU slope 0.2 (TensorFlow's default, which
the official code uses), then message dropout. The representation is the
concatenation :math:`e^*_h = e^{(0)}_h \Vert \hat e^{(1)}_h \Vert \dots \Vert \hat e^{(L)}_h`
of the layer-0 embedding and the L2-normalised layer outputs, as in the official
code; scores are :math:`\langle e^*_u, e^*_i \rangle`.

**Attention and gradients.** The official code recomputes the attention
without gradients once per epoch (``update_attentive_A``) and trains
:math:`W_r, e_r` only through the KG loss. ``attention_refresh='forward'``
(default) recomputes it in every ``forward`` from the current embeddings (no
state between calls); ``'epoch'`` is the official schedule: in training mode
``forward`` uses the attention computed by :meth:`KGAT.begin_epoch`, which the
trainer calls before each epoch's first batch (computed on first use when
nothing called it), and in evaluation mode it is always recomputed, so that
evaluation depends on the parameters alone. On ml-100k's CKG the attention
costs about as much as a forward and backward pass of the propagation.
``detach_attention=True`` (default) computes it under ``no_grad``, so, as in the
official code, the recommendation loss does not flow through it (and the
``[M, k]`` projections of all ``M`` CKG edges are not kept for backward), and
each propagation is a CSR product (:func:`~graphrec.models.propagation.edge_spmm`,
backward through the transposed pattern). ``detach_attention=False`` makes it
differentiable (per-forward refresh only).

**KG loss** (TransR in BPR form), returned by :meth:`KGAT.auxiliary_loss` for
``kg_batch_size`` sampled triples :math:`(h, r, t)` and corrupted tails
:math:`t'`:

.. math::
    g(h, r, t) = \lVert W_r e_h + e_r - W_r e_t \rVert_2^2, \qquad
    L_{KG} = \mathrm{mean}\ \mathrm{softplus}\big(g(h, r, t) - g(h, r, t')\big)
        + \lambda \frac{\lVert W_r e_h\rVert^2 + \lVert e_r\rVert^2 + \lVert W_r e_t\rVert^2
          + \lVert W_r e_{t'}\rVert^2}{2 B}

(:math:`\lambda` = ``kg_l2``, the official ``regs[1] = 1e-5``; sums over the
batch). Triples are drawn uniformly among the CKG edges and :math:`t'`
uniformly among all nodes, redrawn while :math:`(h, r, t')` is an edge (the
official loader draws a head first, then one of its triples; that weights
triples by the inverse of the head's degree). ``kg_triples='ckg'`` (default)
samples from every CKG edge, the user-item interactions and their reverses
included, as the paper ("we employ TransR on CKG") and the official loader
(``all_kg_dict`` holds the interaction matrices) do; ``kg_triples='kg'``
restricts the loss to KG triples.
"""
from __future__ import annotations

from typing import Optional, Sequence, Tuple, Union

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch_geometric.data import HeteroData
from torch_geometric.utils import softmax

from .ckg import CollaborativeKG, KGRecommender, check_init_std, init_node_table, segment_bounds, segment_matmul
from .propagation import edge_spmm

__all__ = ["KGAT"]

_AGGREGATORS = ("bi", "gcn", "graphsage")
_KG_TRIPLES = ("ckg", "kg")
_REFRESH = ("forward", "epoch")
_MAX_REDRAWS = 100


class KGAT(KGRecommender):
    """KGAT encoder and its TransR loss; see the module docstring for the formulas.

    Args:
        num_users, num_items, num_entities, num_kg_relations: graph sizes
            (:meth:`from_graph` reads them).
        embedding_dim: ``d`` (official ``embed_size`` 64).
        relation_dim: ``k`` of :math:`e_r` and :math:`W_r` (official ``kge_size`` 64).
        layer_sizes: output width of each propagation layer (the paper's
            ``[64, 32, 16]``); the output width is ``d + sum(layer_sizes)``.
        message_dropout: one rate for all layers or one per layer (0.1).
        aggregator: ``'bi'`` (default), ``'gcn'`` or ``'graphsage'``.
        negative_slope: LeakyReLU slope (0.2).
        detach_attention: compute the attention without gradients (default).
        kg_batch_size: triples per :meth:`auxiliary_loss` call (official ``batch_size_kg`` 2048).
        kg_l2: :math:`\\lambda` of the KG loss (1e-5).
        kg_weight: factor on the KG loss; 0 turns :meth:`auxiliary_loss` off.
        kg_triples: ``'ckg'`` (default) or ``'kg'``: where training triples come from.
        attention_refresh: ``'forward'`` (default) or ``'epoch'`` (the official
            schedule; see the module docstring).
        init_std: draw the node table from ``N(0, init_std^2)``; ``None``
            (default) keeps the official Xavier-uniform (std 0.0074 on ml-100k's
            36k-node CKG, against MF's 0.1).
    """

    def __init__(
        self,
        num_users: int,
        num_items: int,
        num_entities: int = 0,
        num_kg_relations: int = 0,
        *,
        embedding_dim: int = 64,
        relation_dim: int = 64,
        layer_sizes: Sequence[int] = (64, 32, 16),
        message_dropout: Union[float, Sequence[float]] = 0.1,
        aggregator: str = "bi",
        negative_slope: float = 0.2,
        detach_attention: bool = True,
        kg_batch_size: int = 2048,
        kg_l2: float = 1e-5,
        kg_weight: float = 1.0,
        kg_triples: str = "ckg",
        attention_refresh: str = "forward",
        init_std: Optional[float] = None,
    ) -> None:
        super().__init__(num_users, num_items, num_entities, num_kg_relations)
        layer_sizes = [int(size) for size in layer_sizes]
        if embedding_dim < 1 or relation_dim < 1 or any(size < 1 for size in layer_sizes):
            raise ValueError("embedding_dim, relation_dim and every layer size must be >= 1")
        if isinstance(message_dropout, (int, float)):
            message_dropout = [float(message_dropout)] * len(layer_sizes)
        message_dropout = [float(rate) for rate in message_dropout]
        if len(message_dropout) != len(layer_sizes) or not all(0.0 <= rate < 1.0 for rate in message_dropout):
            raise ValueError(f"message_dropout needs one rate in [0, 1) per layer, got {message_dropout}")
        if aggregator not in _AGGREGATORS:
            raise ValueError(f"aggregator must be one of {_AGGREGATORS}, got {aggregator!r}")
        if kg_triples not in _KG_TRIPLES:
            raise ValueError(f"kg_triples must be one of {_KG_TRIPLES}, got {kg_triples!r}")
        if kg_batch_size < 1 or kg_l2 < 0 or kg_weight < 0:
            raise ValueError("kg_batch_size must be >= 1, kg_l2 and kg_weight >= 0")
        if attention_refresh not in _REFRESH:
            raise ValueError(f"attention_refresh must be one of {_REFRESH}, got {attention_refresh!r}")
        if attention_refresh == "epoch" and not detach_attention:
            raise ValueError("attention_refresh='epoch' needs detach_attention=True: an attention computed "
                             "before the epoch's batches cannot carry their gradients")
        self.num_relations = 2 * (1 + self.num_kg_relations)
        self.embedding_dim = int(embedding_dim)
        self.relation_dim = int(relation_dim)
        self.layer_sizes = layer_sizes
        self.message_dropout = message_dropout
        self.aggregator = aggregator
        self.negative_slope = float(negative_slope)
        self.detach_attention = bool(detach_attention)
        self.kg_batch_size = int(kg_batch_size)
        self.kg_l2 = float(kg_l2)
        self.kg_weight = float(kg_weight)
        self.kg_triples = kg_triples
        self.attention_refresh = attention_refresh
        self.init_std = check_init_std(init_std)
        # attention_refresh='epoch': (the CKG view it was computed on, the attention)
        self._epoch_attention: Optional[Tuple[CollaborativeKG, Tensor]] = None

        num_nodes = self.num_users + self.num_items + self.num_entities
        self.embedding = nn.Embedding(num_nodes, self.embedding_dim)
        self.relation_embedding = nn.Embedding(self.num_relations, self.relation_dim)
        self.transr_weight = nn.Parameter(torch.empty(self.num_relations, self.embedding_dim, self.relation_dim))
        sizes = [self.embedding_dim] + layer_sizes
        self.sum_linears = nn.ModuleList(
            nn.Linear(2 * d_in if aggregator == "graphsage" else d_in, d_out) for d_in, d_out in zip(sizes, sizes[1:])
        )
        self.bi_linears = nn.ModuleList(
            nn.Linear(d_in, d_out) for d_in, d_out in zip(sizes, sizes[1:])
        ) if aggregator == "bi" else nn.ModuleList()
        self.reset_parameters()

    @property
    def output_dim(self) -> int:
        """Width of the returned embeddings: ``d + sum(layer_sizes)``."""
        return self.embedding_dim + sum(self.layer_sizes)

    @property
    def num_nodes(self) -> int:
        return self.num_users + self.num_items + self.num_entities

    def reset_parameters(self) -> None:
        # Xavier everywhere, as the official code (the node table: unless init_std); per-matrix fans for W_r.
        init_node_table(self.embedding.weight, self.init_std)
        nn.init.xavier_uniform_(self.relation_embedding.weight)
        for weight in self.transr_weight.data:
            nn.init.xavier_uniform_(weight)
        for linear in list(self.sum_linears) + list(self.bi_linears):
            nn.init.xavier_uniform_(linear.weight)
            nn.init.zeros_(linear.bias)
        self._ckg.clear()
        self._epoch_attention = None

    def _load_from_state_dict(self, *args, **kwargs) -> None:  # type: ignore[no-untyped-def]
        self._epoch_attention = None  # computed from the parameters being replaced
        super()._load_from_state_dict(*args, **kwargs)

    # -- attention and propagation -----------------------------------------

    def attention(self, graph: HeteroData) -> Tensor:
        r"""``[M]`` normalised attention :math:`\tilde\pi(h, r, t)` of every CKG
        edge of :meth:`collaborative_kg` (same order), from the layer-0 embeddings."""
        view = self.collaborative_kg(graph)
        if self.detach_attention:
            with torch.no_grad():
                return self._attention(view)
        return self._attention(view)

    def begin_epoch(self, graph: HeteroData, epoch: int) -> None:
        """With ``attention_refresh='epoch'``: compute the attention the epoch's
        training batches use, from the current parameters (the trainer calls it)."""
        if self.attention_refresh == "epoch":
            self._epoch_attention = (self.collaborative_kg(graph), self.attention(graph))

    def _propagation_attention(self, graph: HeteroData, view: CollaborativeKG) -> Tensor:
        """The attention ``forward`` propagates with over ``view`` (``graph``'s CKG; see ``attention_refresh``)."""
        if self.attention_refresh == "forward" or not self.training:
            return self.attention(graph)
        # the cached view is per graph and device: another graph or device recomputes
        if self._epoch_attention is None or self._epoch_attention[0] is not view:
            self.begin_epoch(graph, 0)
        assert self._epoch_attention is not None
        return self._epoch_attention[1]

    def _attention(self, view: CollaborativeKG) -> Tensor:
        x = self.embedding.weight
        head, tail = view.edge_index
        # Edges are grouped by relation: one (rows x d) @ (d x k) product per relation.
        projected_head = segment_matmul(x.index_select(0, head), view.relation_ptr, self.transr_weight)
        projected_tail = segment_matmul(x.index_select(0, tail), view.relation_ptr, self.transr_weight)
        logits = (projected_tail * torch.tanh(projected_head + self.relation_embedding(view.relation))).sum(-1)
        return softmax(logits, head, num_nodes=view.num_nodes)

    def propagate(self, x: Tensor, view: CollaborativeKG, attention: Tensor) -> Tensor:
        r""":math:`e_{N_h} = \sum_{(h,r,t)} \tilde\pi(h,r,t)\, x_t` for every node ``h``."""
        return edge_spmm(view.head_csr, attention, x)

    def aggregate(self, layer: int, ego: Tensor, neighbourhood: Tensor) -> Tensor:
        """Layer ``layer``'s aggregator (before message dropout and normalisation)."""
        slope = self.negative_slope
        if self.aggregator == "graphsage":
            return F.leaky_relu(self.sum_linears[layer](torch.cat([ego, neighbourhood], dim=-1)), slope)
        out = F.leaky_relu(self.sum_linears[layer](ego + neighbourhood), slope)
        if self.aggregator == "bi":
            out = out + F.leaky_relu(self.bi_linears[layer](ego * neighbourhood), slope)
        return out

    def node_embeddings(self, graph: HeteroData) -> Tensor:
        """``[N, output_dim]`` concatenated representations of every CKG node."""
        view = self.collaborative_kg(graph)
        attention = self._propagation_attention(graph, view)
        ego = self.embedding.weight
        layers = [ego]
        for layer, rate in enumerate(self.message_dropout):
            ego = self.aggregate(layer, ego, self.propagate(ego, view, attention))
            ego = F.dropout(ego, p=rate, training=self.training)
            layers.append(F.normalize(ego, p=2, dim=1))
        return torch.cat(layers, dim=-1)

    def forward(self, graph: HeteroData) -> Tuple[Tensor, Tensor]:
        nodes = self.node_embeddings(graph)
        return nodes[: self.num_users], nodes[self.num_users : self.num_users + self.num_items]

    def initial_embeddings(self, users: Tensor, items: Tensor) -> Tuple[Tensor, Tensor]:
        weight = self.embedding.weight
        return weight[users], weight[items + self.num_users]

    # -- the TransR loss -----------------------------------------------------

    def kg_loss(self, head: Tensor, relation: Tensor, tail: Tensor, corrupted_tail: Tensor) -> Tensor:
        """The KG loss of the module docstring for given triples (node ids and
        canonical relation ids, all ``[B]``), without ``kg_weight``."""
        # Grouped by relation, W_r is applied once per relation instead of being
        # gathered into a [B, d, k] tensor (whose backward is a large scatter).
        relation, order = torch.sort(relation)
        ptr = segment_bounds(torch.bincount(relation, minlength=self.num_relations).tolist())
        x = self.embedding.weight
        nodes = torch.stack([x[head[order]], x[tail[order]], x[corrupted_tail[order]]], dim=1)  # [B, 3, d]
        projected = segment_matmul(nodes, ptr, self.transr_weight)  # [B, 3, k]
        relation_emb = self.relation_embedding(relation)
        translated = projected[:, 0] + relation_emb
        positive = (translated - projected[:, 1]).pow(2).sum(-1)
        negative = (translated - projected[:, 2]).pow(2).sum(-1)
        loss = F.softplus(positive - negative).mean()
        penalty = (projected.pow(2).sum() + relation_emb.pow(2).sum()) / (2 * head.numel())
        return loss + self.kg_l2 * penalty

    def sample_kg_triples(
        self, graph: HeteroData, num_triples: Optional[int] = None, *, generator: Optional[torch.Generator] = None
    ) -> Optional[Tuple[Tensor, Tensor, Tensor, Tensor]]:
        """``(head, relation, tail, corrupted_tail)``, each ``[num_triples]`` on the
        model's device (``kg_batch_size`` by default), or ``None`` when there is no
        triple to draw from. Triples are uniform over the eligible CKG edges
        (``kg_triples``); corrupted tails uniform over all nodes, redrawn while
        the corrupted triple is an edge (at most 100 rounds). ``generator`` (on
        any device) makes the draw reproducible."""
        view = self.collaborative_kg(graph)
        count = self.kg_batch_size if num_triples is None else int(num_triples)
        if self.kg_triples == "ckg":
            available = view.num_edges
        else:
            forward, reverse = view.kg_slices()
            available = (forward.stop - forward.start) + (reverse.stop - reverse.start)
        if available == 0 or count < 1:
            return None
        device = view.device
        index = _randint(available, count, generator, device)
        if self.kg_triples == "kg":  # map [0, available) onto the two KG ranges
            forward_count = forward.stop - forward.start
            index = torch.where(index < forward_count, index + forward.start, index - forward_count + reverse.start)
        head, tail = view.edge_index[:, index]
        relation = view.relation[index]
        corrupted = _randint(view.num_nodes, count, generator, device)
        pending = torch.nonzero(view.contains(head, relation, corrupted)).squeeze(1)
        for _ in range(_MAX_REDRAWS):  # one round per redraw, never per triple
            if pending.numel() == 0:
                break
            redrawn = _randint(view.num_nodes, pending.numel(), generator, device)
            corrupted[pending] = redrawn
            pending = pending[view.contains(head[pending], relation[pending], redrawn)]
        return head, relation, tail, corrupted

    def auxiliary_loss(self, graph: HeteroData, *, generator: Optional[torch.Generator] = None) -> Optional[Tensor]:
        """``kg_weight`` times the KG loss on ``kg_batch_size`` freshly sampled
        triples; ``None`` when ``kg_weight`` is 0 or there is nothing to sample."""
        if self.kg_weight == 0:
            return None
        triples = self.sample_kg_triples(graph, generator=generator)
        if triples is None:
            return None
        return self.kg_weight * self.kg_loss(*triples)

    def extra_repr(self) -> str:
        return (
            f"{super().extra_repr()}, num_entities={self.num_entities}, num_relations={self.num_relations}, "
            f"embedding_dim={self.embedding_dim}, relation_dim={self.relation_dim}, layer_sizes={self.layer_sizes}, "
            f"aggregator={self.aggregator!r}, detach_attention={self.detach_attention}, kg_triples={self.kg_triples!r}, "
            f"attention_refresh={self.attention_refresh!r}"
            + (f", init_std={self.init_std}" if self.init_std is not None else "")
        )


def _randint(high: int, count: int, generator: Optional[torch.Generator], device: torch.device) -> Tensor:
    """``count`` uniform int64 draws from ``[0, high)`` on ``device``, drawn on
    the generator's device when one is given."""
    source = generator.device if generator is not None else device
    return torch.randint(high, (count,), generator=generator, device=source).to(device)
