"""Readers, one per file format; each returns a RecDataset (or a KnowledgeGraph for RDF)."""
