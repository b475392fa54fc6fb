"""What the operator sets: the one typed ``Settings`` object and where each value comes from.

Owns flags > environment > defaults, validation with a message naming the
setting, and ``describe`` for ``learning-analytics config``. Pure and
synchronous; it imports no other folder of ours.
"""
