"""Executing runs: the engine, the attempt (runner), ``io``, invoke, fetch, worker, scheduler."""
