"""The dataset store: a word-addressed memory behind a LiteDRAM-style native port (the
ULX3S's SDRAM on the board, block RAM in simulation), and the byte-level units the SoC's
dataset commands use on it."""
