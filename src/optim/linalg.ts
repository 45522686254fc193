// Small dense linear algebra in float64 on the CPU, for the r×r matrices of the Riemannian and LoRA-RITE optimizers
// (TF.js has no inverse/eig/solve: docs/optimizers.md §7). Matrices are row-major Float64Arrays;
// `n` is the side of a square matrix. Symmetric eigen-decomposition is cyclic Jacobi (exact to ~1e-15 for r ≤ 64).
// Everything here is O(r³) and allocation-light; nothing touches tensors.

export type Mat = Float64Array;

export function identity(n: number): Mat {
  const out = new Float64Array(n * n);
  for (let i = 0; i < n; i++) out[i * n + i] = 1;
  return out;
}

export function transpose(a: Mat, n: number): Mat {
  const out = new Float64Array(n * n);
  for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) out[j * n + i] = a[i * n + j]!;
  return out;
}

/** a·b for square n×n matrices. */
export function matmul(a: Mat, b: Mat, n: number): Mat {
  const out = new Float64Array(n * n);
  for (let i = 0; i < n; i++) {
    for (let k = 0; k < n; k++) {
      const aik = a[i * n + k]!;
      if (aik === 0) continue;
      for (let j = 0; j < n; j++) out[i * n + j]! += aik * b[k * n + j]!;
    }
  }
  return out;
}

/** (a + aᵀ) / 2. */
export function sym(a: Mat, n: number): Mat {
  const out = new Float64Array(n * n);
  for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) out[i * n + j] = (a[i * n + j]! + a[j * n + i]!) / 2;
  return out;
}

export function trace(a: Mat, n: number): number {
  let s = 0;
  for (let i = 0; i < n; i++) s += a[i * n + i]!;
  return s;
}

export function scale(a: Mat, c: number): Mat {
  const out = new Float64Array(a.length);
  for (let i = 0; i < a.length; i++) out[i] = a[i]! * c;
  return out;
}

/** c1·a + c2·b. */
export function axpby(c1: number, a: Mat, c2: number, b: Mat): Mat {
  const out = new Float64Array(a.length);
  for (let i = 0; i < a.length; i++) out[i] = c1 * a[i]! + c2 * b[i]!;
  return out;
}

/** NaN → 0, ±Inf → ±max double (torch.nan_to_num's defaults). */
export function nanToNum(a: Mat): Mat {
  const out = new Float64Array(a.length);
  for (let i = 0; i < a.length; i++) {
    const x = a[i]!;
    out[i] = Number.isNaN(x) ? 0 : x === Infinity ? Number.MAX_VALUE : x === -Infinity ? -Number.MAX_VALUE : x;
  }
  return out;
}

export function allFinite(a: ArrayLike<number>): boolean {
  for (let i = 0; i < a.length; i++) if (!Number.isFinite(a[i]!)) return false;
  return true;
}

/** Lower-triangular L with a = L·Lᵀ, or null when a is not (numerically) positive definite. */
export function cholesky(a: Mat, n: number): Mat | null {
  const L = new Float64Array(n * n);
  for (let j = 0; j < n; j++) {
    let d = a[j * n + j]!;
    for (let k = 0; k < j; k++) d -= L[j * n + k]! ** 2;
    if (!(d > 0)) return null;
    const ljj = Math.sqrt(d);
    L[j * n + j] = ljj;
    for (let i = j + 1; i < n; i++) {
      let s = a[i * n + j]!;
      for (let k = 0; k < j; k++) s -= L[i * n + k]! * L[j * n + k]!;
      L[i * n + j] = s / ljj;
    }
  }
  return L;
}

/** Solve a·X = b (b is n×m row-major) by LU with partial pivoting; throws on an exactly singular a. */
export function solve(a: Mat, b: Float64Array, n: number, m = b.length / n): Float64Array {
  const lu = Float64Array.from(a);
  const x = Float64Array.from(b);
  for (let k = 0; k < n; k++) {
    let p = k;
    for (let i = k + 1; i < n; i++) if (Math.abs(lu[i * n + k]!) > Math.abs(lu[p * n + k]!)) p = i;
    if (lu[p * n + k] === 0)
      throw new Error("linalg.solve: matrix is singular (zero pivot); use pinvSym for rank-deficient input");
    if (p !== k) {
      for (let j = 0; j < n; j++) [lu[k * n + j], lu[p * n + j]] = [lu[p * n + j]!, lu[k * n + j]!];
      for (let j = 0; j < m; j++) [x[k * m + j], x[p * m + j]] = [x[p * m + j]!, x[k * m + j]!];
    }
    const piv = lu[k * n + k]!;
    for (let i = k + 1; i < n; i++) {
      const f = lu[i * n + k]! / piv;
      if (f === 0) continue;
      for (let j = k; j < n; j++) lu[i * n + j]! -= f * lu[k * n + j]!;
      for (let j = 0; j < m; j++) x[i * m + j]! -= f * x[k * m + j]!;
    }
  }
  for (let k = n - 1; k >= 0; k--) {
    const piv = lu[k * n + k]!;
    for (let j = 0; j < m; j++) {
      let s = x[k * m + j]!;
      for (let i = k + 1; i < n; i++) s -= lu[k * n + i]! * x[i * m + j]!;
      x[k * m + j] = s / piv;
    }
  }
  return x;
}

export function inverse(a: Mat, n: number): Mat {
  return solve(a, identity(n), n, n);
}

export interface SymEig {
  /** Ascending eigenvalues. */
  readonly values: Float64Array;
  /** Eigenvectors as columns: vectors[i*n + k] is component i of the k-th eigenvector. */
  readonly vectors: Mat;
}

/** Symmetric eigen-decomposition a = U·diag(w)·Uᵀ by cyclic Jacobi rotations (a is symmetrised first). */
export function symEig(a: Mat, n: number): SymEig {
  const A = sym(a, n);
  const V = identity(n);
  let scaleSq = 0;
  for (let i = 0; i < A.length; i++) scaleSq += A[i]! ** 2;
  for (let sweep = 0; sweep < 100; sweep++) {
    let off = 0;
    for (let i = 0; i < n; i++) for (let j = i + 1; j < n; j++) off += A[i * n + j]! ** 2;
    if (off <= 1e-32 * scaleSq || off === 0) break;
    for (let p = 0; p < n; p++) {
      for (let q = p + 1; q < n; q++) {
        const apq = A[p * n + q]!;
        if (apq === 0) continue;
        const app = A[p * n + p]!;
        const aqq = A[q * n + q]!;
        const theta = (aqq - app) / (2 * apq);
        const t = Math.sign(theta || 1) / (Math.abs(theta) + Math.sqrt(theta * theta + 1));
        const c = 1 / Math.sqrt(t * t + 1);
        const s = t * c;
        for (let k = 0; k < n; k++) {
          const akp = A[k * n + p]!;
          const akq = A[k * n + q]!;
          A[k * n + p] = c * akp - s * akq;
          A[k * n + q] = s * akp + c * akq;
        }
        for (let k = 0; k < n; k++) {
          const apk = A[p * n + k]!;
          const aqk = A[q * n + k]!;
          A[p * n + k] = c * apk - s * aqk;
          A[q * n + k] = s * apk + c * aqk;
        }
        for (let k = 0; k < n; k++) {
          const vkp = V[k * n + p]!;
          const vkq = V[k * n + q]!;
          V[k * n + p] = c * vkp - s * vkq;
          V[k * n + q] = s * vkp + c * vkq;
        }
      }
    }
  }
  const order = Array.from({ length: n }, (_, i) => i).sort((i, j) => A[i * n + i]! - A[j * n + j]!);
  const values = new Float64Array(n);
  const vectors = new Float64Array(n * n);
  order.forEach((src, k) => {
    values[k] = A[src * n + src]!;
    for (let i = 0; i < n; i++) vectors[i * n + k] = V[i * n + src]!;
  });
  return { values, vectors };
}

/** U·diag(f(w))·Uᵀ for a symmetric matrix given by its eigen-decomposition. */
export function spectralMap(e: SymEig, n: number, f: (w: number) => number): Mat {
  const out = new Float64Array(n * n);
  for (let k = 0; k < n; k++) {
    const fk = f(e.values[k]!);
    if (fk === 0) continue;
    for (let i = 0; i < n; i++) {
      const uik = e.vectors[i * n + k]! * fk;
      if (uik === 0) continue;
      for (let j = 0; j < n; j++) out[i * n + j]! += uik * e.vectors[j * n + k]!;
    }
  }
  return out;
}

/**
 * Pseudo-inverse of a symmetric matrix, as torch.linalg.pinv(a, hermitian=True, rtol): eigenvalues with
 * |w| ≤ rtol·max|w| are treated as zero. Returns the number of eigenvalues cut (0 = the plain inverse).
 */
export function pinvSym(a: Mat, n: number, rtol: number): { inv: Mat; cut: number; cond: number; e: SymEig } {
  const e = symEig(a, n);
  let wmax = 0;
  let wmin = Infinity;
  for (const w of e.values) {
    wmax = Math.max(wmax, Math.abs(w));
    wmin = Math.min(wmin, Math.abs(w));
  }
  const tol = rtol * wmax;
  let cut = 0;
  const inv = spectralMap(e, n, (w) => (Math.abs(w) > tol ? 1 / w : (cut++, 0)));
  return { inv, cut, cond: wmax === 0 ? Infinity : wmax / wmin, e };
}

/** sym(U·diag(1/(√(max(w,0) + shift) + eps))·Uᵀ): LoRA-RITE's inverse root with the eigenvalue clamp. */
export function invSqrtSym(a: Mat, n: number, eps: number, shift = 0): Mat {
  const e = symEig(a, n);
  return sym(
    spectralMap(e, n, (w) => 1 / (Math.sqrt(Math.max(w, 0) + shift) + eps)),
    n,
  );
}

/** Thin Householder QR of a rows×cols matrix (rows ≥ cols): a = Q·R, Q rows×cols orthonormal, R cols×cols upper. */
export function qr(a: Float64Array, rows: number, cols: number): { Q: Float64Array; R: Mat } {
  if (rows < cols) throw new Error(`linalg.qr: needs rows ≥ cols, got ${rows}×${cols}`);
  const W = Float64Array.from(a);
  const vs: Float64Array[] = [];
  for (let k = 0; k < cols; k++) {
    const v = new Float64Array(rows);
    let norm = 0;
    for (let i = k; i < rows; i++) norm += W[i * cols + k]! ** 2;
    norm = Math.sqrt(norm);
    const x0 = W[k * cols + k]!;
    const alpha = x0 >= 0 ? -norm : norm;
    for (let i = k; i < rows; i++) v[i] = W[i * cols + k]!;
    v[k] = x0 - alpha;
    let vn = 0;
    for (let i = k; i < rows; i++) vn += v[i]! ** 2;
    if (vn > 0) {
      for (let j = k; j < cols; j++) {
        let d = 0;
        for (let i = k; i < rows; i++) d += v[i]! * W[i * cols + j]!;
        const f = (2 * d) / vn;
        for (let i = k; i < rows; i++) W[i * cols + j]! -= f * v[i]!;
      }
    }
    vs.push(v);
  }
  const R = new Float64Array(cols * cols);
  for (let i = 0; i < cols; i++) for (let j = i; j < cols; j++) R[i * cols + j] = W[i * cols + j]!;
  // Q = H_0 · … · H_{cols-1} · I[:, :cols]
  const Q = new Float64Array(rows * cols);
  for (let j = 0; j < cols; j++) Q[j * cols + j] = 1;
  for (let k = cols - 1; k >= 0; k--) {
    const v = vs[k]!;
    let vn = 0;
    for (let i = k; i < rows; i++) vn += v[i]! ** 2;
    if (vn === 0) continue;
    for (let j = 0; j < cols; j++) {
      let d = 0;
      for (let i = k; i < rows; i++) d += v[i]! * Q[i * cols + j]!;
      const f = (2 * d) / vn;
      for (let i = k; i < rows; i++) Q[i * cols + j]! -= f * v[i]!;
    }
  }
  return { Q, R };
}
