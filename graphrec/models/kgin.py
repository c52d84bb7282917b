r"""KGIN: Knowledge Graph-based Intent Network (Wang et al., WWW 2021).

Nodes: users :math:`u` and one node set of items and KG entities :math:`v`
(an aligned item is its entity), all with embeddings in :math:`\mathbb R^d`.
Relations: the KG relations and their reverses, :math:`2R` of them, each with
an embedding :math:`e_r \in \mathbb R^d`; the interaction relation is not one
of them (its role is played by the intents).

**Intents.** :math:`P` intents (``num_intents``), each a mixture of relations,

.. math::
    e_p = \sum_r \alpha(r, p)\, e_r, \qquad \alpha(r, p) = \operatorname{softmax}_r(w_{pr}),

with free logits :math:`w \in \mathbb R^{P \times 2R}` (official ``disen_weight_att``).

**Relational path-aware aggregation**, layer :math:`l`, over the KG edges
:math:`(v, r, v')` (heads aggregate their tails) and the training interactions:

.. math::
    e^{(l+1)}_v = \frac{1}{|N_v|} \sum_{(r, v') \in N_v} e_r \odot e^{(l)}_{v'}, \qquad
    \bar e_u = \frac{1}{|N_u|} \sum_{i \in N_u} e^{(l)}_i, \qquad
    e^{(l+1)}_u = \bar e_u \odot \sum_p \beta(u, p)\, e_p + \bar e_u, \qquad
    \beta(u, p) = \operatorname{softmax}_p\big(k_p^\top e^{(l)}_u\big).

This is the official code (``Aggregator.forward``), which differs from the
paper's equations in three places, kept here because the published numbers
come from it: the user update has the residual :math:`+ \bar e_u`; the attention
uses separate intent keys :math:`k_p` (``latent_emb``) rather than :math:`e_p`;
and it attends with the current layer's :math:`e^{(l)}_u` rather than
:math:`e^{(0)}_u`. Nodes without KG edges (items not linked to the KG, or any
item without a KG) get :math:`e^{(l+1)}_v = 0` and keep their layer-0 embedding
in the sum below.

After each layer, message dropout (``message_dropout``, 0.1) and L2
normalisation; the representation is the sum of layer 0 and the normalised
layers, :math:`e^*_x = e^{(0)}_x + \sum_{l=1}^{L} \hat e^{(l)}_x` (official
``entity_res_emb``/``user_res_emb``). In training, node dropout
(``node_dropout`` :math:`\rho`, official 0.5) keeps each KG edge and each
interaction independently with probability :math:`1 - \rho` (the mean over KG
neighbours is over the kept ones; the interaction weights :math:`1/|N_u|` are
divided by :math:`1 - \rho`, as the official ``_sparse_dropout``). The official
code keeps exactly a fraction :math:`\rho` of the KG edges and each interaction
with probability :math:`\rho`, which is the same thing at its default 0.5.

**Independence** of the intents, :meth:`KGIN.auxiliary_loss`:
``sim_regularity`` (official 1e-4) times :math:`\sum_{p < q} \mathrm{dCor}(w_p, w_q)`,
Székely's distance correlation between rows of the intent logits :math:`w`
(as the official ``_cul_cor``, which measures the logits, not :math:`e_p`), or
with ``independence='cosine'`` :math:`\sum_{p<q} \cos^2(w_p, w_q)`. Each row is
one variable observed at the :math:`2R` relations.

Duplicate interactions and triples count once (the CKG view deduplicates, as
the official loader does).
"""
from __future__ import annotations

from typing import Optional, Tuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch_geometric.data import HeteroData
from torch_geometric.utils import scatter

from .ckg import CollaborativeKG, KGRecommender

__all__ = ["KGIN", "distance_correlation", "independence_loss"]

_INDEPENDENCE = ("distance", "cosine")
_EPS = 1e-8


def distance_correlation(x: Tensor) -> Tensor:
    r"""``[P, P]`` distance correlations between the rows of ``x`` (``[P, n]``:
    ``P`` variables, each observed ``n`` times), Székely, Rizzo & Bakirov (2007).

    With :math:`a^{(p)}_{jk} = |x_{pj} - x_{pk}|` double-centred to :math:`A^{(p)}`,
    :math:`\mathrm{dCov}^2_{pq} = \frac{1}{n^2} \sum_{jk} A^{(p)}_{jk} A^{(q)}_{jk}` and
    :math:`\mathrm{dCor}_{pq} = \sqrt{\mathrm{dCov}^2_{pq} / \sqrt{\mathrm{dCov}^2_{pp} \mathrm{dCov}^2_{qq}}}`.
    As in the official KGIN code, ``1e-8`` inside each square root keeps the
    gradient finite at zero.
    """
    n = x.size(-1)
    distance = (x.unsqueeze(-1) - x.unsqueeze(-2)).abs()  # [P, n, n]
    centred = (
        distance - distance.mean(dim=-1, keepdim=True) - distance.mean(dim=-2, keepdim=True)
        + distance.mean(dim=(-2, -1), keepdim=True)
    )
    dcov2 = torch.einsum("pjk,qjk->pq", centred, centred) / (n * n)
    dcov = torch.sqrt(dcov2.clamp_min(0) + _EPS)
    scale = dcov.diagonal()
    return dcov / torch.sqrt(scale.unsqueeze(0) * scale.unsqueeze(1) + _EPS)


def independence_loss(intents: Tensor, kind: str = "distance") -> Tensor:
    """Sum over intent pairs ``p < q`` of ``dCor(w_p, w_q)`` (``'distance'``) or
    ``cos(w_p, w_q)^2`` (``'cosine'``), for ``intents`` of shape ``[P, n]``.
    Zero when there are fewer than two intents or fewer than two observations
    per intent (nothing to measure)."""
    if kind not in _INDEPENDENCE:
        raise ValueError(f"independence must be one of {_INDEPENDENCE}, got {kind!r}")
    count, n = intents.shape
    if count < 2 or n < 2:
        return intents.sum() * 0.0  # keeps the graph (and dtype/device) for backward
    if kind == "distance":
        pairwise = distance_correlation(intents)
    else:
        unit = F.normalize(intents, p=2, dim=-1)
        pairwise = (unit @ unit.t()).pow(2)
    upper = torch.triu_indices(count, count, offset=1, device=intents.device)
    return pairwise[upper[0], upper[1]].sum()


class KGIN(KGRecommender):
    """KGIN encoder and its intent-independence regulariser; see the module docstring.

    Args:
        num_users, num_items, num_entities, num_kg_relations: graph sizes
            (:meth:`from_graph` reads them).
        embedding_dim: ``d`` (official 64).
        num_layers: ``L`` (official ``context_hops`` 3).
        num_intents: ``P`` (official ``n_factors`` 4).
        node_dropout: edge keep probability is ``1 - node_dropout`` in training (official 0.5).
        message_dropout: dropout after each layer in training (official 0.1).
        independence: ``'distance'`` (default) or ``'cosine'`` (official ``ind``).
        sim_regularity: weight of the independence term (official 1e-4); 0 turns it off.
    """

    def __init__(
        self,
        num_users: int,
        num_items: int,
        num_entities: int = 0,
        num_kg_relations: int = 0,
        *,
        embedding_dim: int = 64,
        num_layers: int = 3,
        num_intents: int = 4,
        node_dropout: float = 0.5,
        message_dropout: float = 0.1,
        independence: str = "distance",
        sim_regularity: float = 1e-4,
    ) -> None:
        super().__init__(num_users, num_items, num_entities, num_kg_relations)
        if embedding_dim < 1 or num_layers < 0 or num_intents < 1:
            raise ValueError("need embedding_dim >= 1, num_layers >= 0 and num_intents >= 1")
        for name, rate in (("node_dropout", node_dropout), ("message_dropout", message_dropout)):
            if not 0.0 <= rate < 1.0:
                raise ValueError(f"{name} must lie in [0, 1), got {rate}")
        if independence not in _INDEPENDENCE:
            raise ValueError(f"independence must be one of {_INDEPENDENCE}, got {independence!r}")
        if sim_regularity < 0:
            raise ValueError(f"sim_regularity must be >= 0, got {sim_regularity}")
        self.embedding_dim = int(embedding_dim)
        self.num_layers = int(num_layers)
        self.num_intents = int(num_intents)
        self.node_dropout = float(node_dropout)
        self.message_dropout = float(message_dropout)
        self.independence = independence
        self.sim_regularity = float(sim_regularity)

        # Without a KG there is no relation to mix; one stand-in relation keeps
        # the intents (and the user update) well defined.
        num_intent_relations = max(2 * self.num_kg_relations, 1)
        self.embedding = nn.Embedding(self.num_users + self.num_items + self.num_entities, self.embedding_dim)
        self.relation_embedding = nn.Embedding(num_intent_relations, self.embedding_dim)
        self.intent_logits = nn.Parameter(torch.empty(self.num_intents, num_intent_relations))
        self.intent_keys = nn.Parameter(torch.empty(self.num_intents, self.embedding_dim))
        self.reset_parameters()

    def reset_parameters(self) -> None:
        # Xavier uniform for every table, as the official code.
        for weight in (self.embedding.weight, self.relation_embedding.weight, self.intent_logits, self.intent_keys):
            nn.init.xavier_uniform_(weight)
        self._ckg.clear()

    def intent_embeddings(self) -> Tensor:
        r"""``[P, d]`` :math:`e_p = \sum_r \mathrm{softmax}_r(w_p)_r\, e_r`."""
        return torch.softmax(self.intent_logits, dim=-1) @ self.relation_embedding.weight

    def _structure(self, view: CollaborativeKG) -> Tuple[Tensor, Tensor, Tensor, Tensor, Tensor]:
        """KG edges as (head, tail) local to the item/entity table and their
        KGIN relation (forward ``r`` -> ``r``, reverse ``r`` -> ``R + r``);
        interactions as (user, item) with weight ``1 / |N_u|``. Node dropout
        applies here, in training."""
        offset = self.num_users
        kg_index, kg_relation = view.kg_edges()
        forward = view.num_forward_relations
        relation = torch.where(kg_relation < forward, kg_relation - 1, kg_relation - 2)
        head, tail = kg_index[0] - offset, kg_index[1] - offset
        user, item = view.edge_index[:, view.interaction_slices()[0]]
        item = item - offset
        weight = 1.0 / torch.bincount(user, minlength=self.num_users).clamp_min(1)[user].to(self.embedding.weight.dtype)
        if self.training and self.node_dropout > 0:
            keep = 1.0 - self.node_dropout
            kept = torch.rand(head.numel(), device=head.device) < keep
            head, tail, relation = head[kept], tail[kept], relation[kept]
            kept = torch.rand(user.numel(), device=user.device) < keep
            user, item, weight = user[kept], item[kept], weight[kept] / keep
        return head, tail, relation, torch.stack([user, item]), weight

    def aggregate(
        self, users: Tensor, entities: Tensor, structure: Tuple[Tensor, Tensor, Tensor, Tensor, Tensor]
    ) -> Tuple[Tensor, Tensor]:
        """One layer of the module docstring (before dropout and normalisation):
        ``(users, entities)`` at layer ``l`` -> layer ``l + 1``."""
        head, tail, relation, interactions, weight = structure
        # index_select, not [tail]: its backward is an index_add, not a sort-based index_put
        messages = entities.index_select(0, tail) * self.relation_embedding.weight.index_select(0, relation)
        new_entities = scatter(messages, head, dim=0, dim_size=entities.size(0), reduce="mean")
        user, item = interactions
        weighted = entities.index_select(0, item) * weight.unsqueeze(-1)
        mean_items = scatter(weighted, user, dim=0, dim_size=users.size(0), reduce="sum")
        beta = torch.softmax(users @ self.intent_keys.t(), dim=-1)  # [U, P]
        new_users = mean_items * (beta @ self.intent_embeddings()) + mean_items
        return new_users, new_entities

    def node_embeddings(self, graph: HeteroData) -> Tuple[Tensor, Tensor]:
        """``(users [U, d], items and entities [I + E, d])``: the layer sums."""
        view = self.collaborative_kg(graph)
        structure = self._structure(view)
        weight = self.embedding.weight
        users, entities = weight[: self.num_users], weight[self.num_users :]
        user_sum, entity_sum = users, entities
        for _ in range(self.num_layers):
            users, entities = self.aggregate(users, entities, structure)
            users = F.normalize(F.dropout(users, p=self.message_dropout, training=self.training), p=2, dim=1)
            entities = F.normalize(F.dropout(entities, p=self.message_dropout, training=self.training), p=2, dim=1)
            user_sum = user_sum + users
            entity_sum = entity_sum + entities
        return user_sum, entity_sum

    def forward(self, graph: HeteroData) -> Tuple[Tensor, Tensor]:
        users, entities = self.node_embeddings(graph)
        return users, entities[: self.num_items]

    def initial_embeddings(self, users: Tensor, items: Tensor) -> Tuple[Tensor, Tensor]:
        weight = self.embedding.weight
        return weight[users], weight[items + self.num_users]

    def auxiliary_loss(self, graph: HeteroData, *, generator: Optional[torch.Generator] = None) -> Optional[Tensor]:
        """``sim_regularity`` times the independence of the intents; ``None`` when
        ``sim_regularity`` is 0. Deterministic: ``generator`` is not used."""
        if self.sim_regularity == 0:
            return None
        return self.sim_regularity * independence_loss(self.intent_logits, self.independence)

    def extra_repr(self) -> str:
        return (
            f"{super().extra_repr()}, num_entities={self.num_entities}, num_kg_relations={self.num_kg_relations}, "
            f"embedding_dim={self.embedding_dim}, num_layers={self.num_layers}, num_intents={self.num_intents}, "
            f"independence={self.independence!r}"
        )
