"""The command line, ``learning-analytics``: serve, config, import, backup, relay, loadtest.

The top of the tree: it may import every folder, and imports the heavy ones
(the service, the importer, the load driver) only inside the command that
needs them, so ``config`` and ``--help`` stay light. Nothing imports it.
"""
