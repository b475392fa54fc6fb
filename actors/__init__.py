"""The trio actors and their wiring: the service's tasks, nurseries and channels.

Owns the connection actors (``connection``, over the hub listener ``hub`` or a
relay follower ``relay``), the session router and sessions (``router``,
``session``), the analytics pool (``pool``), the outbox of each connection
(``outbox``), the store writer and its commit buffer (``writer``), and
``service``, which starts them under one root nursery and stops them in
order. It may import every folder but ``cli`` and ``loadtest``; nothing but
``cli`` and ``loadtest`` imports it.
"""
