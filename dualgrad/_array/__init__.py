"""The array tier: Tensor and the autograd engine (reverse mode on arrays)."""
