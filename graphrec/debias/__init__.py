"""Causal debiasing methods behind one interface (see base.Debiaser)."""
from .base import Debiaser

__all__ = ["Debiaser"]
