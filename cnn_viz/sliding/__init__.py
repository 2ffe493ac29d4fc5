"""Sliding kernel lesson: the sweep step by step, its figures and GIF, convolution as a matrix."""
