"""The seed papers' claims measured beside their numbers (`epfpga reproduce`)."""
