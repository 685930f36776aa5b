"""Versioned schema migrations, one ``NNNN_name.sql`` file per version and backend."""
