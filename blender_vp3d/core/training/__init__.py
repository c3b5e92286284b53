"""Training code: needs torch, runs in the development environment, excluded from the add-on zip.

Besides the torch model and its training loop, the mocap readers and mapping to H36M-17 (:mod:`.mocap`) and the
accuracy metrics (:mod:`.metrics`) live here: only training and the evaluation benchmarks use them (both
numpy only, so importing them needs no torch).
"""
