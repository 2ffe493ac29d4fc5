"""The kernel's sweep over an image, one output entry at a time (the report's Figures 1 and 2).

At step k (row-major over the output) the kernel sits on the patch whose top-left tap is
(i·s, j·s) of the padded input; its taps are (i·s + m·d, j·s + n·d); the element-wise
product with the pixels under it sums (over channels too, plus the bias) to A(i, j).
Everything here is in *padded* coordinates, like the report's formula, so the padding
cells are real cells of the picture.

NumPy only: the products are gathered from the padded input directly, independently of
``conv.conv2d``, so the tests can hold one against the other.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from cnn_viz.common import conv, fmt, images, kernels

# The report's Figure 1 (Goodfellow et al., Fig. 9.1): a 3×4 input, a 2×2 kernel, a 2×3 map.
FIGURE1_INPUT = np.array([[3.0, 1.0, 0.0, 2.0], [1.0, 4.0, 2.0, 0.0], [0.0, 2.0, 1.0, 3.0]])
FIGURE1_KERNEL = np.array([[1.0, 0.0], [-1.0, 2.0]])
FIGURE1_INPUT_LABELS = np.array(list("abcdefghijkl")).reshape(3, 4)
FIGURE1_KERNEL_LABELS = np.array(list("wxyz")).reshape(2, 2)
FIGURE1_LABELS = (FIGURE1_INPUT_LABELS, FIGURE1_KERNEL_LABELS)

MAX_SIDE = 64  # largest input side the sweep accepts (64² = 4096 steps)
PICTURE_SIDE = 32  # the page shrinks a picture to this side, so every position can be shown
MAX_TERMS = 25  # products written out per channel in the formula before "⋯"
CHANNEL_NAMES = ("R", "G", "B")


def _paren(v: float) -> str:
    s = fmt.num(v)
    return f"({s})" if s.startswith("-") else s


def parse_grid(values, max_side: int = 16) -> np.ndarray:
    """A grid typed by the user (strings, numbers, None) as a float array, or ValueError naming the bad cell."""
    try:
        return kernels.validate_kernel(values, max_size=max_side)
    except ValueError as exc:
        raise ValueError(str(exc).replace("kernel", "input grid").replace("A input", "An input")) from None


def grid_seed(rows: int, cols: int) -> np.ndarray:
    """The numbers a freshly typed grid starts with: (i + j) mod 4, small steps in both directions."""
    return (np.add.outer(np.arange(rows), np.arange(cols)) % 4).astype(float)


def table(grid) -> dict[str, list[float]]:
    """A 2-D grid as columns for st.dataframe: {"0": first column, "1": second, ...}."""
    g = np.asarray(grid, dtype=np.float64)
    return {str(j): g[:, j].tolist() for j in range(g.shape[1])}


@dataclass(frozen=True)
class Coverage:
    unseen: int  # input cells no step reads (the stride jumps over them)
    cells: int  # input cells, padding not counted


@dataclass(frozen=True)
class Step:
    """Step k of a sweep: the output cell A(i, j) it computes, and the page's sentences about it."""

    k: int
    i: int
    j: int
    value: float
    where: str  # where the kernel sits at this step
    what: str  # what it adds up

    @classmethod
    def of(cls, sweep: Sweep, k: int) -> Step:
        i, j = sweep.position(k)
        (sh, sw), (dh, _) = sweep.stride, sweep.dilation
        value = float(sweep.values[i, j])
        where = (
            f"Output cell ({i}, {j}) is step {k + 1} of {sweep.n_steps} (row by row). Its first tap sits at "
            f"row {i}·{sh} = {i * sh}, column {j}·{sw} = {j * sw} of the padded input; the taps are {dh} "
            f"cell{'s' if dh > 1 else ''} apart"
            + (" (dilation: the kernel reaches further with the same number of weights)." if max(sweep.dilation) > 1 else ".")
        )
        kh, kw = sweep.kernel_shape
        what = (
            f"{sweep.kernel.size} products"
            + (f" ({sweep.channels} channels × {kh}×{kw})" if sweep.channels > 1 else "")
            + (f", plus the bias {fmt.num(sweep.bias)}" if sweep.bias else "")
            + f", give A({i}, {j}) = {fmt.num(value)}."
        )
        return cls(int(k), i, j, value, where, what)


@dataclass(frozen=True, eq=False)
class Sweep:
    """One image, one kernel and the settings; every step of the sweep is derived from these.

    The padded input, the output shape, every patch and the feature map are computed once,
    when the sweep is made (``__post_init__``), and kept as fields of the frozen object."""

    image: np.ndarray  # (C, H, W)
    kernel: np.ndarray  # (C, kh, kw)
    bias: float
    stride: tuple[int, int]
    padding: tuple[int, int]
    dilation: tuple[int, int]
    padding_mode: str
    input_labels: np.ndarray | None = None  # (H, W) of str, for a symbolic formula (Figure 1)
    kernel_labels: np.ndarray | None = None  # (kh, kw) of str
    padded: np.ndarray = field(init=False, repr=False)  # (C, H + 2ph, W + 2pw): the input with its padding cells
    padding_mask: np.ndarray = field(init=False, repr=False)  # (Hp, Wp) bool: True on padding cells
    out_shape: tuple[int, int] = field(init=False)
    windows: np.ndarray = field(init=False, repr=False)  # (Ho, Wo, C, kh, kw): every patch
    values: np.ndarray = field(init=False, repr=False)  # (Ho, Wo): the feature map A

    def __post_init__(self) -> None:
        ph, pw = self.padding
        padded = conv.pad(self.image, (ph, pw), self.padding_mode) if ph or pw else self.image
        mask = np.ones(padded.shape[1:], dtype=bool)
        mask[ph : ph + self.image.shape[1], pw : pw + self.image.shape[2]] = False
        ho, wo = (
            conv.output_size(n, k, s, p, d)
            for n, k, s, p, d in zip(self.image.shape[1:], self.kernel.shape[1:], self.stride, self.padding, self.dilation)
        )
        rows, cols = self._tap_grid(ho, wo)
        windows = np.moveaxis(padded[:, rows[:, None, :, None], cols[None, :, None, :]], 0, 2)  # (C, Ho, Wo, ...) -> (Ho, Wo, C, ...)
        # A(i, j) = Σ_c Σ_m Σ_n I_c(i·s + m·d, j·s + n·d) K_c(m, n) + b, from the patches
        values = np.einsum("hwcmn,cmn->hw", windows, self.kernel) + self.bias
        for name, v in (("padded", padded), ("padding_mask", mask), ("out_shape", (ho, wo)), ("windows", windows), ("values", values)):
            object.__setattr__(self, name, v)

    def _tap_grid(self, ho: int, wo: int) -> tuple[np.ndarray, np.ndarray]:
        """Padded rows (Ho, kh) and columns (Wo, kw) of every tap: i·s + m·d and j·s + n·d."""
        kh, kw = self.kernel_shape
        rows = (np.arange(ho) * self.stride[0])[:, None] + (np.arange(kh) * self.dilation[0])[None, :]
        cols = (np.arange(wo) * self.stride[1])[:, None] + (np.arange(kw) * self.dilation[1])[None, :]
        return rows, cols

    # ---- shapes -------------------------------------------------------------------------
    @property
    def channels(self) -> int:
        return self.image.shape[0]

    @property
    def kernel_shape(self) -> tuple[int, int]:
        return self.kernel.shape[1], self.kernel.shape[2]

    @property
    def n_steps(self) -> int:
        return self.out_shape[0] * self.out_shape[1]

    @property
    def out_size(self) -> str:
        """"Ho × Wo" of the feature map."""
        return f"{self.out_shape[0]} × {self.out_shape[1]}"

    @property
    def padded_size(self) -> str:
        """"Hp × Wp", with "× C" for more than one channel."""
        hp, wp = self.padded.shape[1:]
        return f"{hp} × {wp}" + (f" × {self.channels}" if self.channels > 1 else "")

    def key(self) -> tuple:
        """Everything the sweep is made from, as one hashable value that compares equal for the same inputs."""
        labels = tuple(None if a is None else (a.shape, a.tobytes()) for a in (self.input_labels, self.kernel_labels))
        return (
            self.image.shape, self.image.tobytes(), self.kernel.shape, self.kernel.tobytes(), self.bias,
            self.stride, self.padding, self.dilation, self.padding_mode, labels,
        )

    # ---- one step ---------------------------------------------------------------------
    def _check(self, k: int) -> int:
        if not 0 <= k < self.n_steps:
            raise ValueError(f"Step {k} is outside the sweep (0 to {self.n_steps - 1}).")
        return int(k)

    def position(self, k: int) -> tuple[int, int]:
        """Output cell (i, j) computed at step k (row by row, left to right)."""
        return divmod(self._check(k), self.out_shape[1])

    def taps(self, k: int) -> tuple[np.ndarray, np.ndarray]:
        """Padded rows (kh,) and columns (kw,) under the kernel at step k: i·s + m·d and j·s + n·d."""
        i, j = self.position(k)
        kh, kw = self.kernel_shape
        return i * self.stride[0] + np.arange(kh) * self.dilation[0], j * self.stride[1] + np.arange(kw) * self.dilation[1]

    def patch(self, k: int) -> np.ndarray:
        """(C, kh, kw): the input values under the kernel's taps."""
        rows, cols = self.taps(k)
        return self.padded[:, rows[:, None], cols[None, :]]

    def products(self, k: int) -> np.ndarray:
        """(C, kh, kw): element-wise products I · K at step k."""
        return self.patch(k) * self.kernel

    def channel_sums(self, k: int) -> np.ndarray:
        """(C,): the sum of the products in each channel."""
        return self.products(k).sum(axis=(1, 2))

    # ---- the whole sweep --------------------------------------------------------------
    def partial(self, k: int) -> np.ndarray:
        """(Ho, Wo): the feature map after step k; entries not yet computed are NaN."""
        k = self._check(k)
        out = np.full(self.n_steps, np.nan)
        out[: k + 1] = self.values.ravel()[: k + 1]
        return out.reshape(self.out_shape)

    def coverage(self) -> np.ndarray:
        """(Hp, Wp) int: how many steps read each padded cell (0 = never seen, e.g. stride > span)."""
        counts = np.zeros(self.padded.shape[1:], dtype=np.int64)
        rows, cols = self._tap_grid(*self.out_shape)
        np.add.at(counts, (rows.ravel()[:, None], cols.ravel()[None, :]), 1)
        return counts

    def input_coverage(self) -> Coverage:
        """How many cells of the input (not the padding) no step ever reads."""
        seen = self.coverage()[~self.padding_mask]
        return Coverage(unseen=int((seen == 0).sum()), cells=int(seen.size))

    # ---- words and formulas ------------------------------------------------------------
    def output_size_latex(self) -> str:
        """⌊(n + 2p − d(k−1) − 1)/s⌋ + 1 for both axes with the current numbers."""
        lines = []
        for axis, n, k, s, p, d, o in zip(
            ("H", "W"), self.image.shape[1:], self.kernel_shape, self.stride, self.padding, self.dilation, self.out_shape
        ):
            lines.append(
                rf"{axis}_\text{{out}} &= \left\lfloor \frac{{{axis} + 2p - d(k-1) - 1}}{{s}} \right\rfloor + 1"
                rf" = \left\lfloor \frac{{{n} + 2\cdot{p} - {d}\cdot({k}-1) - 1}}{{{s}}} \right\rfloor + 1 = {o}"
            )
        return r"\begin{aligned}" + r"\\".join(lines) + r"\end{aligned}"

    def _terms(self, k: int, c: int) -> tuple[list[str], list[str], list[str]]:
        """Per product m, n: the index form, the symbolic form (if labelled) and the numeric form."""
        rows, cols = self.taps(k)
        patch, kern = self.patch(k)[c], self.kernel[c]
        ph, pw = self.padding
        sub = f"_{CHANNEL_NAMES[c]}" if self.channels == 3 else (f"_{c}" if self.channels > 1 else "")
        idx, sym, num = [], [], []
        for m, r in enumerate(rows):
            for n, q in enumerate(cols):
                idx.append(rf"I{sub}({r},{q})\,K{sub}({m},{n})")
                if self.input_labels is not None and self.kernel_labels is not None:
                    inside = 0 <= r - ph < self.input_labels.shape[0] and 0 <= q - pw < self.input_labels.shape[1]
                    a = self.input_labels[r - ph, q - pw] if inside else "0"
                    sym.append(f"{a}{self.kernel_labels[m, n]}")
                num.append(rf"{_paren(patch[m, n])}\cdot{_paren(kern[m, n])}")
        return idx, sym, num

    @staticmethod
    def _joined(terms: list[str], per_line: int) -> str:
        if len(terms) > MAX_TERMS:
            terms = terms[:4] + [r"\cdots"] + terms[-2:]
        chunks = [" + ".join(terms[i : i + per_line]) for i in range(0, len(terms), per_line)]
        return r" \\ &\quad + ".join(chunks)

    def formula_latex(self, k: int) -> str:
        """The report's A(i, j) = Σ Σ I(i·s + m·d, j·s + n·d) K(m, n) with step k's numbers substituted."""
        i, j = self.position(k)
        (sh, sw), (dh, dw) = self.stride, self.dilation
        kh, kw = self.kernel_shape
        value = float(self.values[i, j])
        bias = r" + b" if self.bias else ""
        csum = r"\sum_{c}" if self.channels > 1 else ""
        isub = "_c" if self.channels > 1 else ""
        head = (
            rf"A({i},{j}) &= {csum}\sum_{{m=0}}^{{{kh - 1}}}\sum_{{n=0}}^{{{kw - 1}}} "
            rf"I{isub}({i}\cdot{sh} + m\cdot{dh},\ {j}\cdot{sw} + n\cdot{dw})\,K{isub}(m,n){bias}"
        )
        lines = [head]
        if self.channels == 1:
            idx, sym, num = self._terms(k, 0)
            lines.append("&= " + self._joined(idx, 3))
            if sym:
                lines.append("&= " + " + ".join(sym))
            lines.append("&= " + self._joined(num, 5) + (rf" + {_paren(self.bias)}" if self.bias else ""))
        else:
            sums = self.channel_sums(k)
            for c in range(self.channels):
                _, _, num = self._terms(k, c)
                name = CHANNEL_NAMES[c] if self.channels == 3 else str(c)
                lines.append(rf"S_{{{name}}} &= " + self._joined(num, 5) + rf" = {fmt.num(sums[c])}")
            names = [CHANNEL_NAMES[c] if self.channels == 3 else str(c) for c in range(self.channels)]
            lines.append(
                rf"A({i},{j}) &= " + " + ".join(f"S_{{{n}}}" for n in names) + bias + " = "
                + " + ".join(_paren(s) for s in sums) + (rf" + {_paren(self.bias)}" if self.bias else "")
            )
        lines.append(rf"&= {fmt.num(value)}")
        return r"\begin{aligned}" + r"\\ ".join(lines) + r"\end{aligned}"

    def step(self, k: int) -> Step:
        """Step k in words: where the kernel sits and what it adds up."""
        return Step.of(self, k)

    def alt(self, k: int) -> str:
        """Text alternative of the sweep picture at step k: the three panels' sizes and this step's numbers."""
        i, j = self.position(k)
        done = self.values.reshape(-1)[: k + 1]
        kh, kw = self.kernel_shape
        return fmt.minus(
            f"Step {k + 1} of {self.n_steps}: the {kh}×{kw} kernel on the {self.padded_size.replace(' ', '')} padded input "
            f"computes A({i}, {j}) = {fmt.num(self.values[i, j])}; the {self.out_size.replace(' ', '')} feature map has "
            f"{k + 1} of {self.n_steps} values filled, from {fmt.num(done.min())} to {fmt.num(done.max())}; the whole map "
            f"runs from {fmt.num(self.values.min())} to {fmt.num(self.values.max())}."
        )


def make_sweep(
    image,
    kernel,
    *,
    stride=1,
    padding=0,
    dilation=1,
    padding_mode: str = "zeros",
    bias: float = 0.0,
    input_labels=None,
    kernel_labels=None,
) -> Sweep:
    """Validate the settings and build the sweep.

    ``image`` is (H, W) or (C, H, W); ``kernel`` is (kh, kw) — used on every channel and
    summed, like one filter of a conv layer — or (C, kh, kw). Raises ValueError with a
    student-readable message for a combination that cannot slide.
    """
    x = conv._as_float_array(image, "image").astype(np.float64)
    w = conv._as_float_array(kernel, "kernel").astype(np.float64)
    if x.ndim == 2:
        x = x[None]
    if x.ndim != 3 or x.shape[1] == 0 or x.shape[2] == 0:
        raise ValueError(f"The image must be (H, W) or (C, H, W) and not empty; got shape {np.shape(image)}.")
    if max(x.shape[1:]) > MAX_SIDE:
        raise ValueError(f"The image is {x.shape[1]}×{x.shape[2]}; the sweep shows at most {MAX_SIDE}×{MAX_SIDE} (shrink it first).")
    if w.ndim == 2:
        w = np.repeat(w[None], x.shape[0], axis=0)
    if w.ndim != 3 or w.shape[0] != x.shape[0]:
        raise ValueError(f"The kernel has shape {np.shape(kernel)} but the image has {x.shape[0]} channel(s).")
    if w.size == 0:
        raise ValueError("The kernel is empty.")
    if padding_mode not in conv.PADDING_MODES:
        raise ValueError(f"The padding mode must be one of {', '.join(conv.PADDING_MODES)}; got {padding_mode!r}.")
    s, p, d = conv._pair(stride, "stride"), conv._pair(padding, "padding"), conv._pair(dilation, "dilation")
    for n, k, st, pp, dd, axis in zip(x.shape[1:], w.shape[1:], s, p, d, ("tall", "wide")):
        conv.output_size(n, k, st, pp, dd)  # raises for a stride or dilation below 1, negative padding, a kernel that does not fit
        if st > n + 2 * pp:
            raise ValueError(
                f"The stride {st} is larger than the padded image, which is only {n + 2 * pp} pixels {axis} "
                f"({n} + 2×{pp} padding): the kernel could never take a step. Use a stride of at most {n + 2 * pp}."
            )
    if padding_mode == "reflect" and (p[0] >= x.shape[1] or p[1] >= x.shape[2]):
        raise ValueError(f"Reflect padding must be smaller than the image ({x.shape[1]}×{x.shape[2]}); use less padding or another mode.")
    b = float(bias)
    if not np.isfinite(b):
        raise ValueError("The bias must be a finite number.")
    labels_ok = input_labels is not None and np.shape(input_labels) == x.shape[1:] and np.shape(kernel_labels) == w.shape[1:]
    return Sweep(
        image=x,
        kernel=w,
        bias=b,
        stride=s,
        padding=p,
        dilation=d,
        padding_mode=padding_mode,
        input_labels=np.asarray(input_labels) if labels_ok else None,
        kernel_labels=np.asarray(kernel_labels) if labels_ok else None,
    )


def figure1_sweep() -> Sweep:
    """The report's Figure 1: 3×4 input, 2×2 kernel, stride 1, no padding: 6 patches, a 2×3 map."""
    return make_sweep(FIGURE1_INPUT, FIGURE1_KERNEL, input_labels=FIGURE1_LABELS[0], kernel_labels=FIGURE1_LABELS[1])


@dataclass(frozen=True)
class CannotSlide:
    """Why a sweep cannot be made, and the settings that were asked for."""

    reason: str  # make_sweep's message
    settings: str  # "Input H×W, kernel kh×kw, stride s, padding p, dilation d"


def try_sweep(picture, kernel, *, stride=1, padding=0, dilation=1, padding_mode: str = "zeros", bias: float = 0.0,
              labels: tuple | None = None) -> tuple[Sweep | None, CannotSlide | None]:
    """make_sweep for a picture laid out (H, W) or (H, W, C), as the page has it; ``labels`` are
    (input labels, kernel labels) for a symbolic formula, e.g. FIGURE1_LABELS.

    Returns (sweep, None), or (None, CannotSlide) with make_sweep's message when the settings do not fit."""
    chw = images.hwc_to_chw(np.asarray(picture, dtype=np.float64))
    input_labels, kernel_labels = labels or (None, None)
    try:
        sweep = make_sweep(chw, kernel, stride=stride, padding=padding, dilation=dilation, padding_mode=padding_mode,
                           bias=bias, input_labels=input_labels, kernel_labels=kernel_labels)
    except ValueError as exc:
        kh, kw = np.shape(kernel)[-2:]
        settings = f"Input {chw.shape[1]}×{chw.shape[2]}, kernel {kh}×{kw}, stride {stride}, padding {padding}, dilation {dilation}"
        return None, CannotSlide(str(exc), settings)
    return sweep, None


@dataclass(frozen=True)
class MatrixCounts:
    """Sizes for "sparse interactions": M is rows × cols; a dense layer would need rows·cols weights."""

    rows: int  # outputs: one row of M per kernel position
    cols: int  # inputs: one column per cell of vec(I)
    dense: int  # rows × cols, the weights of a fully connected layer
    nnz: int  # nonzeros of M (weights that are exactly zero are not stored)
    connections: int  # (input, output) pairs the kernel touches, whatever its weights
    weights: int  # the kernel's own numbers, shared by every row

    @property
    def dense_per_nonzero(self) -> float:
        return self.dense / max(self.nnz, 1)

    @property
    def percent_nonzero(self) -> float:
        return 100 * self.nnz / self.dense


def matrix_counts(sweep: Sweep, matrix=None) -> MatrixCounts:
    """The counts of M (built here unless ``matrix`` is M already)."""
    m = conv_matrix_of(sweep) if matrix is None else matrix
    rows, cols = m.shape
    return MatrixCounts(rows, cols, rows * cols, int(m.nnz), int(conv_matrix_of(sweep, ones=True).nnz), int(sweep.kernel.size))


MAX_CSV_ENTRIES = 4_000_000  # M is offered as a (dense) CSV up to this many entries


@dataclass(frozen=True, eq=False)
class MatrixView(MatrixCounts):
    """Convolution as a matrix: M, its counts, and the check that it computes the same map."""

    matrix: object = None  # scipy.sparse.csr_matrix M, vec(A) = M · vec(I) + b
    residual: float = 0.0  # max |M·vec(I) + b − vec(A)|

    @property
    def csv_ok(self) -> bool:
        return self.dense <= MAX_CSV_ENTRIES

    @property
    def sparse_text(self) -> str:
        """The "sparse interactions" sentence with this M's numbers."""
        return (
            f"A fully connected layer from {self.cols} inputs to {self.rows} outputs needs m × n = {self.dense:,} weights; "
            f"the convolution touches only {self.connections:,} (input, output) pairs, k × n with k = {self.weights} taps, "
            f"and M has {self.nnz:,} nonzeros ({self.percent_nonzero:.2f}% of the entries)."
        )


def matrix_view(sweep: Sweep) -> MatrixView:
    """M of the sweep with its counts, and max |M·vec(I) + b − vec(A)| against the sweep's own feature map."""
    m = conv_matrix_of(sweep)
    residual = float(np.max(np.abs(m @ sweep.image.ravel() + sweep.bias - sweep.values.ravel())))
    return MatrixView(**vars(matrix_counts(sweep, m)), matrix=m, residual=residual)


def conv_matrix_of(sweep: Sweep, ones: bool = False):
    """M with vec(A) = M · vec(I) + b for this sweep (the kernel summed over channels)."""
    w = np.ones_like(sweep.kernel) if ones else sweep.kernel
    return conv.conv_matrix(
        sweep.image.shape, w, stride=sweep.stride, padding=sweep.padding, dilation=sweep.dilation, padding_mode=sweep.padding_mode
    )


def row_columns(matrix, k: int) -> np.ndarray:
    """Columns (indices into vec(I)) that row k of a CSR matrix touches: the pixels step k reads."""
    return matrix.indices[matrix.indptr[k] : matrix.indptr[k + 1]].copy()
