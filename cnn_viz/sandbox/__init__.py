"""Kernel sandbox lesson: any kernel over any image."""
