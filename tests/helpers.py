"""Small helpers shared by several test modules (not fixtures, not tests)."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import torch

from graphrec.data import IdMap, Interactions


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
