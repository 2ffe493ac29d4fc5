"""What the lessons share: images, convolution, kernels, metrics, linear algebra helpers, number formatting, asset paths."""
