"""Deblurring lesson: λ rules, the 1-D integral equation, 2-D restoration, the CNNs, figures."""
