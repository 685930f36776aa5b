"""``python -m relaykit``: the relaykit command line."""

from relaykit.cli import main

main()
