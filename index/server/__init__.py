"""The `server` backend, one module per engine: catalog.py (PostgreSQL, all its SQL), milvus.py (Milvus,
all its calls), bm25.py (keyword scoring from the catalog), backend.py (the seam's Backend / Reader /
Snapshot / IndexWriter over both). Imported only when ``Settings.backend = "server"``."""
