"""Training: the loop, the engines it drives (float, golden, simulated or real board)
and checkpoints."""
