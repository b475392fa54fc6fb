"""Who may do what: the booking system's tokens, single-use hub codes, roles, the audit log.

Owns verifying JSON Web Tokens (``access.tokens``: HS256 with one or two
shared secrets, so a rotation never locks anyone out), the short-lived,
single-use codes that carry a token's grant from ``POST /session/<stream>``
to the WebSocket upgrade (``access.codes``), what each grant and role may
read or write (``access.grants``) and the audit log stream
(``access.audit``). Pure: no sockets, no tasks, the clock is passed in. It
imports nothing of ours; ``web``, ``actors`` and ``cli`` import it.
"""
