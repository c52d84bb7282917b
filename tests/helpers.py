"""Small helpers shared by several test modules (not fixtures, not tests)."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import torch

from graphrec.data import IdMap, Interactions, KnowledgeGraph, RecDataset


def training_auc(model, graph, train: Interactions) -> float:
    """Mean per-user AUC of the training positives against all other items.

    Computed densely (every positive against every non-positive of the user),
    so only for tiny worlds; the model is scored in eval mode (no dropout).
    """
    was_training = model.training
    model.eval()
    with torch.no_grad():
        user_emb, item_emb = model(graph)
        scores = model.full_scores(torch.arange(model.num_users), user_emb, item_emb)
    model.train(was_training)
    positive = torch.zeros_like(scores, dtype=torch.bool)
    positive[torch.from_numpy(train.user), torch.from_numpy(train.item)] = True
    greater = (scores[:, :, None] > scores[:, None, :]).float()  # [u, i, j]: s_ui > s_uj
    pairs = positive[:, :, None] & ~positive[:, None, :]
    return ((greater * pairs).sum((1, 2)) / pairs.sum((1, 2)).clamp_min(1)).mean().item()


def read_ml100k(data_root: Path) -> Interactions:
    """ml-100k.inter through pandas only (independent of the package's readers)."""
    frame = pd.read_csv(data_root / "ml-100k" / "ml-100k.inter", sep="\t")
    frame.columns = ["user", "item", "rating", "timestamp"]
    users, items = IdMap(np.unique(frame["user"])), IdMap(np.unique(frame["item"]))
    return Interactions(
        user=users.index(frame["user"]),
        item=items.index(frame["item"]),
        user_ids=users,
        item_ids=items,
        rating=frame["rating"].to_numpy(),
        timestamp=frame["timestamp"].to_numpy(),
    )


def tiny_dataset(with_kg: bool = True, relation_names=("film.film.genre", "sequel")) -> RecDataset:
    """The hand-checkable dataset of the graph and CKG tests: 3 users, 4 items, entities a-e
    (a = item 2, d = item 0), two relations; a duplicated click (u1, i1) and triple (a, genre, c)."""
    users, items = IdMap(["u0", "u1", "u2"]), IdMap(["i0", "i1", "i2", "i3"])
    train = Interactions(np.array([0, 0, 1, 1, 2]), np.array([0, 1, 1, 1, 3]), users, items)
    valid = Interactions(np.array([2]), np.array([0]), users, items)
    test = Interactions(np.array([0, 1]), np.array([2, 3]), users, items)
    kg = KnowledgeGraph(
        head=np.array([3, 0, 0, 4, 3, 1]),
        relation=np.array([0, 0, 0, 0, 1, 1]),
        tail=np.array([1, 2, 2, 1, 0, 3]),
        entity_names=np.array(list("abcde"), dtype=object),
        relation_names=np.array(list(relation_names), dtype=object),
        item_entity=np.array([3, -1, 0, -1]),
    )
    return RecDataset("tiny", train, test, valid, kg if with_kg else None)


# Distinct (head, canonical relation, tail) of tiny_dataset's collaborative KG, homogeneous
# ids (users 0-2, items 3-6, entity nodes b=7 c=8 e=9; relations 0 interacts, 1 genre,
# 2 sequel, 3-5 their reverses), written out from the dataset by hand.
_TINY_FORWARD = [(0, 0, 3), (0, 0, 4), (1, 0, 4), (2, 0, 6), (3, 1, 7), (5, 1, 8), (9, 1, 7), (3, 2, 5), (7, 2, 3)]
TINY_TRIPLES = _TINY_FORWARD + [(t, r + 3, h) for h, r, t in _TINY_FORWARD]


def bpr_training(model, graph, train: Interactions, *, lr: float, steps: int = 50, generator=None) -> None:
    """``steps`` full-batch BPR steps with Adam (one uniform negative per training pair,
    drawn from torch's global generator), plus the model's auxiliary loss when it has
    one (drawing from ``generator``). A sanity loop for models, independent of the Trainer."""
    users, items = torch.from_numpy(train.user), torch.from_numpy(train.item)
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    model.train()
    for _ in range(steps):
        negatives = torch.randint(0, model.num_items, items.shape)
        user_emb, item_emb = model(graph)
        margin = model.score(user_emb[users], item_emb[items]) - model.score(user_emb[users], item_emb[negatives])
        loss = -torch.nn.functional.logsigmoid(margin).mean()
        auxiliary = model.auxiliary_loss(graph, generator=generator)
        if auxiliary is not None:
            loss = loss + auxiliary
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
