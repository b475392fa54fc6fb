"""WebSocket (RFC 6455) as we speak it: sans-io framing and handshake, trio transports.

Owns the framing (``websocket.frames``) and the opening handshake
(``websocket.handshake``), both sans-io: bytes in, events and bytes out, no
sockets, no trio. On top of them, the trio server side (``websocket.opening``
accepts or refuses a connection, ``websocket.server`` serves it),
the client side over trio-websocket (``websocket.client``), the ``Transport``
protocol both give the actors (``websocket.transport``) and a small test relay
(``websocket.broadcast_relay``). It knows nothing of the service: it imports
no other folder of ours.
"""
