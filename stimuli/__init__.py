"""Stimulus videos and the balanced experimental design for MVT experiments."""
