"""MNIST lesson: the shipped digits, digit preprocessing, the report's SimpleCNN, training, figures."""
