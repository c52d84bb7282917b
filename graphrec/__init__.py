"""graphrec: graph-based recommendation on one heterogeneous graph."""
__version__ = "0.1.0"
