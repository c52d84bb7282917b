"""A hand-sized dataset and a matrix factorisation with chosen embeddings, for hand computations."""
from __future__ import annotations

from typing import Callable, Optional

import numpy as np
import pytest
import torch

from graphrec.data.dataset import RecDataset
from graphrec.data.idmap import IdMap
from graphrec.data.interactions import Interactions
from graphrec.models.mf import MF

# 3 users x 4 items; item training counts 3, 1, 1, 0
TRAIN_USERS = np.array([0, 0, 1, 2, 2])
TRAIN_ITEMS = np.array([0, 1, 0, 0, 2])
COUNTS = np.array([3, 1, 1, 0])


@pytest.fixture
def make_dataset() -> Callable[..., RecDataset]:
    """``make_dataset(timestamps=None, propensity=None)``: the hand-sized dataset."""

    def make(timestamps: Optional[np.ndarray] = None, propensity: Optional[np.ndarray] = None) -> RecDataset:
        users, items = IdMap.range(3), IdMap.range(4)
        train = Interactions(TRAIN_USERS, TRAIN_ITEMS, users, items, timestamp=timestamps)
        test = Interactions(np.array([1]), np.array([3]), users, items)
        return RecDataset(name="tiny", train=train, test=test, propensity=propensity)

    return make


@pytest.fixture
def make_mf() -> Callable[[np.ndarray, np.ndarray], MF]:
    """``make_mf(user_rows, item_rows)``: an MF whose tables are exactly the given arrays."""

    def make(user_rows: np.ndarray, item_rows: np.ndarray) -> MF:
        model = MF(len(user_rows), len(item_rows), embedding_dim=user_rows.shape[1])
        with torch.no_grad():
            model.user_embedding.weight.copy_(torch.as_tensor(user_rows, dtype=torch.float32))
            model.item_embedding.weight.copy_(torch.as_tensor(item_rows, dtype=torch.float32))
        return model

    return make


USER_ROWS = np.array([[0.5, -0.2], [0.1, 0.4], [-0.3, 0.7]])
ITEM_ROWS = np.array([[0.2, 0.1], [-0.4, 0.3], [0.6, -0.5], [0.05, 0.9]])
# a batch: users, their positives (training pairs) and two negatives each
BATCH_USERS = np.array([0, 1, 2])
BATCH_POSITIVES = np.array([1, 0, 2])
BATCH_NEGATIVES = np.array([[3, 2], [2, 3], [1, 3]])


def softplus(x: np.ndarray) -> np.ndarray:
    return np.log1p(np.exp(-np.abs(x))) + np.maximum(x, 0)


def sigmoid(x: np.ndarray) -> np.ndarray:
    return 1 / (1 + np.exp(-x))


@pytest.fixture
def hand():
    """The hand example's arrays and NumPy helpers."""

    class Hand:
        users, items = USER_ROWS, ITEM_ROWS
        batch_users, positives, negatives = BATCH_USERS, BATCH_POSITIVES, BATCH_NEGATIVES
        counts = COUNTS

        @staticmethod
        def tensors():
            return torch.tensor(BATCH_USERS), torch.tensor(BATCH_POSITIVES), torch.tensor(BATCH_NEGATIVES)

        @staticmethod
        def scores(user_rows=USER_ROWS, item_rows=ITEM_ROWS):
            """Raw inner-product scores of the batch's positives [3] and negatives [3, 2]."""
            u = user_rows[BATCH_USERS]
            positive = (u * item_rows[BATCH_POSITIVES]).sum(1)
            negative = (u[:, None, :] * item_rows[BATCH_NEGATIVES]).sum(2)
            return positive, negative

    Hand.softplus = staticmethod(softplus)
    Hand.sigmoid = staticmethod(sigmoid)
    return Hand


def objective(model, debias, loss: str = "bpr", weight_decay: float = 0.0, graph=None):
    """The trainer's loss module for one batch (no autocast)."""
    from graphrec.losses import loss_function
    from graphrec.train import _Objective

    debias.set_training_loss(loss)  # as the trainer does
    return _Objective(model, debias, graph, loss_function(loss), weight_decay, [])


@pytest.fixture
def run_objective():
    """``run_objective(model, debias, loss='bpr', weight_decay=0.0)`` -> ``(total, terms)`` of the hand batch."""

    def run(model, debias, loss: str = "bpr", weight_decay: float = 0.0):
        users, positives, negatives = torch.tensor(BATCH_USERS), torch.tensor(BATCH_POSITIVES), torch.tensor(BATCH_NEGATIVES)
        total, terms = objective(model, debias, loss, weight_decay)(users, positives, negatives)
        return total.item(), {name: value.item() for name, value in terms.items()}

    return run


@pytest.fixture(scope="session")
def small_world():
    """A small synthetic world (40 users, 30 items, a KG) for models that need a graph."""
    from graphrec.data import synthetic

    return synthetic(num_users=40, num_items=30, clicks_per_user=4.0, dim=4, random_exposures_per_user=5, seed=0)
