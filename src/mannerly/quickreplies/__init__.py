"""Quick replies (O3): templates declare short answers; customers' answers are parsed and stored."""
