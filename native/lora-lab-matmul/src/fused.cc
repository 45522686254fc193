// Elementwise and row kernels for lora-lab's fused wasm kernels (src/wasm-fused.ts): AdamW's update, RMSNorm and its
// backward, SwiGLU's products and backward, and the layout/softmax steps of causal attention with RoPE and GQA.
// Operands live in the wasm heap (an ArrayBuffer + byte offsets). Every elementwise formula is float32 op for op
// as the tfjs ops it replaces compose it (compiled with -ffp-contract=off: no fused multiply-adds), so those
// results are bit-identical; row sums (RMSNorm, the softmax backward) add in another order.
#include <node_api.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <functional>

// matmul.cc: f(begin, end) over [0, n) split across the addon's threads when n ≥ 2·grain.
void parallelFor(long n, long grain, const std::function<void(long, long)>& f);

namespace {

// Elements (or rows × their length) below which a loop stays on one thread: ~10 µs of work.
constexpr long kGrain = 16384;
inline long rowGrain(long rowLength) { return std::max<long>(1, kGrain / std::max<long>(1, rowLength)); }

// The heap and the bounds every operand is checked against.
struct Heap {
  uint8_t* base = nullptr;
  size_t len = 0;
  bool ok = true;
  // float view of n floats at byte offset off, or nullptr (and ok = false) when it does not fit.
  float* f(double off, double n) {
    if (!(off >= 0) || !(n >= 0) || std::fmod(off, 4.0) != 0 || off + 4.0 * n > static_cast<double>(len)) {
      ok = false;
      return nullptr;
    }
    return reinterpret_cast<float*>(base + static_cast<size_t>(off));
  }
};

napi_value fail(napi_env env, const char* msg) {
  napi_throw_error(env, "LORA_LAB_FUSED", msg);
  return nullptr;
}

// Reads (heap, a0, a1, …) into h and a[]; returns false after throwing.
bool args(napi_env env, napi_callback_info info, size_t want, Heap& h, double* a, const char* name) {
  size_t argc = 24;
  napi_value argv[24];
  if (napi_get_cb_info(env, info, &argc, argv, nullptr, nullptr) != napi_ok || argc != want + 1) {
    fail(env, name);
    return false;
  }
  void* data = nullptr;
  bool isAb = false;
  napi_is_arraybuffer(env, argv[0], &isAb);
  if (!isAb || napi_get_arraybuffer_info(env, argv[0], &data, &h.len) != napi_ok) {
    fail(env, "fused kernels: argument 0 must be the wasm heap ArrayBuffer");
    return false;
  }
  h.base = static_cast<uint8_t*>(data);
  for (size_t i = 0; i < want; ++i) {
    if (napi_get_value_double(env, argv[1 + i], &a[i]) != napi_ok) {
      fail(env, "fused kernels: arguments after the heap must be numbers");
      return false;
    }
  }
  return true;
}

#define ARGS(n, usage)                                        \
  Heap h;                                                     \
  double a[n];                                                \
  if (!args(env, info, n, h, a, usage)) return nullptr;
#define CHECK() \
  if (!h.ok) return fail(env, "fused kernels: an operand lies outside the heap ArrayBuffer");

// adamw(heap, p, g, m, v, p2, m2, v2, n, beta1, 1−beta1, beta2, 1−beta2, sqrt(bc2), eps, −lr/bc1, decay | NaN)
napi_value Adamw(napi_env env, napi_callback_info info) {
  ARGS(16, "adamw expects (heap, p, g, m, v, p2, m2, v2, n, b1, c1, b2, c2, sqrtBc2, eps, negStep, decay)");
  const double n = a[7];
  const float *P = h.f(a[0], n), *G = h.f(a[1], n), *M = h.f(a[2], n), *V = h.f(a[3], n);
  float *P2 = h.f(a[4], n), *M2 = h.f(a[5], n), *V2 = h.f(a[6], n);
  CHECK();
  const float b1 = a[8], c1 = a[9], b2 = a[10], c2 = a[11], sqrtBc2 = a[12], eps = a[13], neg = a[14];
  const bool hasDecay = !std::isnan(a[15]);
  const float decay = hasDecay ? static_cast<float>(a[15]) : 1.f;
  parallelFor(static_cast<long>(n), kGrain, [&](long i0, long i1) {
    for (long i = i0; i < i1; ++i) {
      const float g = G[i];
      const float m = M[i] * b1 + g * c1;
      const float gg = g * g;
      const float v = V[i] * b2 + gg * c2;
      const float denom = std::sqrt(v) / sqrtBc2 + eps;
      const float base = hasDecay ? P[i] * decay : P[i];
      const float upd = m / denom;
      P2[i] = base + upd * neg;
      M2[i] = m;
      V2[i] = v;
    }
  });
  return nullptr;
}

// Σ term(j) for j < n in float32 with 8 interleaved partial sums (vectorisable; a reassociated row sum).
template <typename Term>
inline float sum8(long n, Term term) {
  float s[8] = {0, 0, 0, 0, 0, 0, 0, 0};
  long j = 0;
  for (; j + 8 <= n; j += 8)
    for (int u = 0; u < 8; ++u) s[u] += term(j + u);
  float total = ((s[0] + s[1]) + (s[2] + s[3])) + ((s[4] + s[5]) + (s[6] + s[7]));
  for (; j < n; ++j) total += term(j);
  return total;
}

// 1 / sqrt(mean(x²) + eps) of one row, in float32.
float rowRstd(const float* x, long d, float eps) {
  const float ss = sum8(d, [x](long j) { return x[j] * x[j]; });
  const float mean = ss / static_cast<float>(d);
  return 1.f / std::sqrt(mean + eps);
}

// rmsnorm(heap, x, w, y, rows, d, eps): y = (x · r) · w per row
napi_value RmsNorm(napi_env env, napi_callback_info info) {
  ARGS(6, "rmsnorm expects (heap, x, w, y, rows, d, eps)");
  const long rows = a[3], d = a[4];
  const float* X = h.f(a[0], rows * d);
  const float* W = h.f(a[1], d);
  float* Y = h.f(a[2], rows * d);
  CHECK();
  const float eps = a[5];
  parallelFor(rows, rowGrain(d), [&](long r0, long r1) {
    for (long r = r0; r < r1; ++r) {
      const float* x = X + r * d;
      float* y = Y + r * d;
      const float rs = rowRstd(x, d, eps);
      for (long j = 0; j < d; ++j) y[j] = (x[j] * rs) * W[j];
    }
  });
  return nullptr;
}

// rmsnormGrad(heap, x, w, dy, dx, rows, d, eps): dx = r·(dy·w) − x·r³·mean((dy·w)·x)
napi_value RmsNormGrad(napi_env env, napi_callback_info info) {
  ARGS(7, "rmsnormGrad expects (heap, x, w, dy, dx, rows, d, eps)");
  const long rows = a[4], d = a[5];
  const float* X = h.f(a[0], rows * d);
  const float* W = h.f(a[1], d);
  const float* DY = h.f(a[2], rows * d);
  float* DX = h.f(a[3], rows * d);
  CHECK();
  const float eps = a[6];
  parallelFor(rows, rowGrain(d), [&](long r0, long r1) {
    for (long r = r0; r < r1; ++r) {
      const float *x = X + r * d, *dy = DY + r * d;
      float* dx = DX + r * d;
      const float rs = rowRstd(x, d, eps);
      const float dot = sum8(d, [&](long j) { return (dy[j] * W[j]) * x[j]; });
      const float k = ((rs * rs) * rs) * (dot / static_cast<float>(d));
      for (long j = 0; j < d; ++j) dx[j] = ((dy[j] * W[j]) * rs) - (x[j] * k);
    }
  });
  return nullptr;
}

// swiglu(heap, g, s, u, out, n): out = (g·s)·u
napi_value SwiGlu(napi_env env, napi_callback_info info) {
  ARGS(5, "swiglu expects (heap, g, s, u, out, n)");
  const double n = a[4];
  const float *G = h.f(a[0], n), *S = h.f(a[1], n), *U = h.f(a[2], n);
  float* H = h.f(a[3], n);
  CHECK();
  parallelFor(static_cast<long>(n), kGrain, [&](long i0, long i1) {
    for (long i = i0; i < i1; ++i) H[i] = (G[i] * S[i]) * U[i];
  });
  return nullptr;
}

// swigluGrad(heap, g, s, u, dh, dg, du, n): du = dh·(g·s); dg = (dh·u)·s + ((dh·u)·g)·(s·(1 − s))
napi_value SwiGluGrad(napi_env env, napi_callback_info info) {
  ARGS(7, "swigluGrad expects (heap, g, s, u, dh, dg, du, n)");
  const double n = a[6];
  const float *G = h.f(a[0], n), *S = h.f(a[1], n), *U = h.f(a[2], n), *DH = h.f(a[3], n);
  float *DG = h.f(a[4], n), *DU = h.f(a[5], n);
  CHECK();
  parallelFor(static_cast<long>(n), kGrain, [&](long i0, long i1) {
    for (long i = i0; i < i1; ++i) {
      const float g = G[i], s = S[i], d = DH[i];
      const float gs = g * s;
      DU[i] = d * gs;
      const float t = d * U[i];
      const float ts = t * s;
      const float tg = t * g;
      const float oneMinus = 1.f - s;
      const float sd = s * oneMinus;
      DG[i] = ts + tg * sd;
    }
  });
  return nullptr;
}

// scale(heap, x, out, n, s): out = x·s (out may be x)
napi_value Scale(napi_env env, napi_callback_info info) {
  ARGS(4, "scale expects (heap, x, out, n, s)");
  const float* X = h.f(a[0], a[2]);
  float* O = h.f(a[1], a[2]);
  CHECK();
  const float s = a[3];
  for (long i = 0; i < static_cast<long>(a[2]); ++i) O[i] = X[i] * s;
  return nullptr;
}

// addRow(heap, y, bias, rows, cols): y[r, j] ← y[r, j] + bias[j]
napi_value AddRow(napi_env env, napi_callback_info info) {
  ARGS(4, "addRow expects (heap, y, bias, rows, cols)");
  const long rows = a[2], cols = a[3];
  float* Y = h.f(a[0], rows * cols);
  const float* Bi = h.f(a[1], cols);
  CHECK();
  for (long r = 0; r < rows; ++r)
    for (long j = 0; j < cols; ++j) Y[r * cols + j] = Y[r * cols + j] + Bi[j];
  return nullptr;
}

// fold(heap, x, out, B, T, n, KV, hd, cos, sin, inverse): the head layout moves of attention.
// Forward (inverse = 0): x [B, T, n, hd] (head h = kv·G + g, G = n/KV) → out [B, KV, T·G, hd], rows (t, g), with RoPE
// when cos ≥ 0: out = x·cos + rotate_half(x)·sin, rotate_half(x) = cat(−x₂, x₁) (cos/sin [T, hd]).
// Inverse (1): out [B, T, n, hd] ← x folded, through RoPE's backward when cos ≥ 0:
// dx₁ = dy₁·cos₁ + dy₂·sin₂, dx₂ = dy₂·cos₂ + (−(dy₁·sin₁)).
napi_value Fold(napi_env env, napi_callback_info info) {
  ARGS(10, "fold expects (heap, x, out, B, T, n, KV, hd, cos, sin, inverse)");
  const long B = a[2], T = a[3], n = a[4], KV = a[5], hd = a[6];
  const bool rope = a[7] >= 0, inverse = a[9] != 0;
  const float* X = h.f(a[0], B * T * n * hd);
  float* O = h.f(a[1], B * T * n * hd);
  const float* C = rope ? h.f(a[7], T * hd) : nullptr;
  const float* S = rope ? h.f(a[8], T * hd) : nullptr;
  CHECK();
  if (KV <= 0 || n % KV != 0 || hd % 2 != 0) return fail(env, "fold: heads must be a multiple of KV heads, hd even");
  const long G = n / KV, half = hd / 2;
  parallelFor(B * T, rowGrain(n * hd), [&](long bt0, long bt1) {
    for (long bt = bt0; bt < bt1; ++bt)
      for (long hh = 0; hh < n; ++hh) {
        const long b = bt / T, t = bt % T;
        const long kv = hh / G, g = hh % G;
        const long flat = ((b * T + t) * n + hh) * hd;
        const long folded = ((b * KV + kv) * T * G + t * G + g) * hd;
        const float* src = X + (inverse ? folded : flat);
        float* dst = O + (inverse ? flat : folded);
        if (!rope) {
          std::memcpy(dst, src, sizeof(float) * hd);
          continue;
        }
        const float *c = C + t * hd, *s = S + t * hd;
        for (long i = 0; i < half; ++i) {
          const float x1 = src[i], x2 = src[i + half];
          if (!inverse) {
            const float p = x1 * c[i], q = -x2 * s[i];
            const float p2 = x2 * c[i + half], q2 = x1 * s[i + half];
            dst[i] = p + q;
            dst[i + half] = p2 + q2;
          } else {
            const float p = x1 * c[i], q = x2 * s[i + half];
            const float p2 = x2 * c[i + half], q2 = -(x1 * s[i]);
            dst[i] = p + q;
            dst[i + half] = p2 + q2;
          }
        }
      }
  });
  return nullptr;
}

// maskScale(heap, S, rows, T, G, keys, offset, scale): scores [rows = BK·T·G, keys] ← S·scale, + (−1e9) where key
// j > offset + t (row r is query t = (r mod T·G) / G at position offset + t), as tf.add(tf.mul(q·kᵀ, scale), mask)
// forms it; the rows of a query that sees every key get no add (the composed path then adds no mask either).
napi_value MaskScale(napi_env env, napi_callback_info info) {
  ARGS(7, "maskScale expects (heap, S, rows, T, G, keys, offset, scale)");
  const long rows = a[1], T = a[2], G = a[3], keys = a[4], offset = a[5];
  float* S = h.f(a[0], rows * keys);
  CHECK();
  const float scale = a[6], neg = -1e9f;
  parallelFor(rows, rowGrain(keys), [&](long r0, long r1) {
    for (long r = r0; r < r1; ++r) {
      const long t = (r % (T * G)) / G;
      float* s = S + r * keys;
      for (long j = 0; j < keys; ++j) {
        const float v = s[j] * scale;
        s[j] = j > offset + t ? v + neg : v;
      }
    }
  });
  return nullptr;
}

// softmaxGrad(heap, P, dP, rows, T, scale): dP ← ((dP·P) − Σ(dP·P)·P)·scale per row (tfjs' Softmax gradient, then
// the ·scale of the scores).
napi_value SoftmaxGrad(napi_env env, napi_callback_info info) {
  ARGS(5, "softmaxGrad expects (heap, P, dP, rows, T, scale)");
  const long rows = a[2], T = a[3];
  const float* P = h.f(a[0], rows * T);
  float* D = h.f(a[1], rows * T);
  CHECK();
  const float scale = a[4];
  parallelFor(rows, rowGrain(T), [&](long r0, long r1) {
    for (long r = r0; r < r1; ++r) {
      const float* p = P + r * T;
      float* d = D + r * T;
      const float sum = sum8(T, [&](long j) { return d[j] = d[j] * p[j]; });
      for (long j = 0; j < T; ++j) {
        const float sp = sum * p[j];
        d[j] = (d[j] - sp) * scale;
      }
    }
  });
  return nullptr;
}

// sumSquares(heap, x, n) → Σ x² in float32, summed in index order as tfjs-wasm's Sum kernel does (bit-identical to
// tf.sum(tf.square(x))).
napi_value SumSquares(napi_env env, napi_callback_info info) {
  ARGS(2, "sumSquares expects (heap, x, n)");
  const float* X = h.f(a[0], a[1]);
  CHECK();
  float sum = 0.f;
  for (long i = 0; i < static_cast<long>(a[1]); ++i) {
    const float sq = X[i] * X[i];
    sum += sq;
  }
  napi_value out;
  napi_create_double(env, sum, &out);
  return out;
}

}  // namespace

// Called from matmul.cc's module init.
void registerFusedKernels(napi_env env, napi_value exports) {
  napi_property_descriptor props[] = {
      {"adamw", nullptr, Adamw, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"rmsnorm", nullptr, RmsNorm, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"rmsnormGrad", nullptr, RmsNormGrad, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"swiglu", nullptr, SwiGlu, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"swigluGrad", nullptr, SwiGluGrad, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"scale", nullptr, Scale, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"addRow", nullptr, AddRow, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"fold", nullptr, Fold, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"maskScale", nullptr, MaskScale, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"softmaxGrad", nullptr, SoftmaxGrad, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"sumSquares", nullptr, SumSquares, nullptr, nullptr, nullptr, napi_default, nullptr},
  };
  napi_define_properties(env, exports, sizeof(props) / sizeof(props[0]), props);
}
