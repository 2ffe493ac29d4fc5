"""ReLU and pooling lesson: conv → activation → pooling stages, and why CNNs work."""
