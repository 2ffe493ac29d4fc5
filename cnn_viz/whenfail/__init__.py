"""When CNNs fail (Chodosh and Lucey, CVPR 2020; McCann, Jin and Unser 2017): operators with and without
local shift-invariant structure, convolutional sparse signals, classical and learned solvers, JPEG
artifacts in 2-D, and gradient descent against SGD.

- ``lab``: operators, signals, Tikhonov (GCV), ISTA on the convolutional sparse model, compressibility (NumPy).
- ``nets``: the 1-D networks (CNN, fully connected, unrolled ISTA) and their training (torch).
- ``results``: the result table and its .npz files (NumPy; the page opens without torch).
- ``jpeg``: Pillow's JPEG, its 8×8 DCT blocks and quantisation, classical restorations (NumPy, scikit-image).
- ``jpeg_cnn``: the small artifact-removal CNN (torch).
- ``descent``: gradient descent against SGD, generic over a model factory and data (torch).
- ``train``: the command line that writes result files (``python -m cnn_viz.whenfail.train``).
- ``figures``: the Plotly figures.
"""
