"""Stimulus videos and the balanced experimental design for MVT experiments (``mvt build``).

Owns the images scan, masks, the H.264 splice, the design and ``links.csv``. May import
`kernel.errors`, `kernel.ids` and `kernel.csvsafe` only: the builder runs without a server or Redis.
"""
