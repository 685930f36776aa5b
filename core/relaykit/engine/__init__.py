"""The engine: executing runs, and the operations every surface calls."""
