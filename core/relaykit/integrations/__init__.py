"""The plugin side: the ``Integration`` base, auth, webhooks, the pluggy manager, HTTP clients."""
