// Native float32 batched matmul for lora-lab's tfjs-wasm BatchMatMul kernel (src/native-matmul.ts): C = op(A)·op(B)
// on operands that live in the wasm heap (an ArrayBuffer + byte offsets), with tfjs' semantics: rank-3 [batch, ·, ·]
// operands, transposeA/transposeB, output batch i reads A batch i % batchA and B batch i % batchB.
// Goto/BLIS-style blocking (pack B in KC×NC panels of NR columns, A in MC×KC panels of MR rows, MR×NR register
// microkernel); the AVX2+FMA microkernel is chosen at run time (__builtin_cpu_supports), else a portable loop.
// Threads: the work is split over batches, or over the larger of M and N, when the product is big enough.
#include <node_api.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define LL_X86 1
#else
#define LL_X86 0
#endif

void registerFusedKernels(napi_env env, napi_value exports);  // fused.cc

namespace {

constexpr int MR = 6;
constexpr int NR = 16;
constexpr long KC = 256;
constexpr long MC = 120;   // multiple of MR; A block 120×256×4 B = 120 KiB (L2)
constexpr long NC = 2048;  // multiple of NR; B block 256×2048×4 B = 2 MiB (L3)

// A strided matrix view: element (i, j) is p[i * rs + j * cs].
struct View {
  const float* p;
  long rs, cs;
};

// Packs rows [i0, i0+mc) × cols [k0, k0+kc) of A into panels of MR rows: dst[panel][k][MR], zero-padded.
void packA(const View& A, long i0, long mc, long k0, long kc, float* dst) {
  for (long ip = 0; ip < mc; ip += MR) {
    const int mr = static_cast<int>(std::min<long>(MR, mc - ip));
    if (A.cs == 1) {
      for (int r = 0; r < MR; ++r) {
        const float* src = A.p + (i0 + ip + r) * A.rs + k0;
        for (long k = 0; k < kc; ++k) dst[k * MR + r] = r < mr ? src[k] : 0.f;
      }
    } else {
      for (long k = 0; k < kc; ++k) {
        const float* src = A.p + (k0 + k) * A.cs + (i0 + ip) * A.rs;
        for (int r = 0; r < MR; ++r) dst[k * MR + r] = r < mr ? src[r * A.rs] : 0.f;
      }
    }
    dst += kc * MR;
  }
}

// Packs rows [k0, k0+kc) × cols [j0, j0+nc) of B into panels of NR columns: dst[panel][k][NR], zero-padded.
void packB(const View& B, long k0, long kc, long j0, long nc, float* dst) {
  if (B.cs == 1) {
    // Row-major B: stream each source row once, copying its NR-wide pieces into the panels (k outer keeps the reads
    // sequential; a panel-outer loop strides through B once per panel).
    const long full = nc / NR;
    const long rest = nc - full * NR;
    for (long k = 0; k < kc; ++k) {
      const float* src = B.p + (k0 + k) * B.rs + j0;
      for (long jp = 0; jp < full; ++jp) std::memcpy(dst + jp * kc * NR + k * NR, src + jp * NR, NR * sizeof(float));
      if (rest > 0) {
        float* d = dst + full * kc * NR + k * NR;
        long j = 0;
        for (; j < rest; ++j) d[j] = src[full * NR + j];
        for (; j < NR; ++j) d[j] = 0.f;
      }
    }
    return;
  }
  for (long jp = 0; jp < nc; jp += NR) {
    const int nr = static_cast<int>(std::min<long>(NR, nc - jp));
    for (int j = 0; j < NR; ++j) {
      if (j < nr) {
        const float* src = B.p + (j0 + jp + j) * B.cs + k0 * B.rs;
        for (long k = 0; k < kc; ++k) dst[k * NR + j] = src[k * B.rs];
      } else {
        for (long k = 0; k < kc; ++k) dst[k * NR + j] = 0.f;
      }
    }
    dst += kc * NR;
  }
}

// Writes (accumulate=false) or adds (true) the mr×nr valid part of an MR×NR tile into C, whose element (r, j) is
// C[r * crs + j * ccs] (crs = ldc, ccs = 1 for a row-major C; crs = 1, ccs = ldc for its transpose).
inline void storeTile(const float* tile, float* C, long crs, long ccs, int mr, int nr, bool accumulate) {
  for (int r = 0; r < mr; ++r) {
    float* c = C + r * crs;
    const float* t = tile + r * NR;
    if (accumulate)
      for (int j = 0; j < nr; ++j) c[j * ccs] += t[j];
    else
      for (int j = 0; j < nr; ++j) c[j * ccs] = t[j];
  }
}

// Microkernels compute an MR×NR tile = A(MR×kc) · Bp(kc×NR) where A's element (r, k) is Ap[r * ars + k * acs]:
// packed A has ars = 1, acs = MR; unpacked ("direct") A is read in place with its own strides, rows past mr clamped.
// Portable microkernel (the compiler vectorises the NR loop).
void kernelPortable(long kc, const float* Ap, long ars, long acs, const float* Bp, float* C, long crs, long ccs, int mr,
                    int nr, bool accumulate) {
  float acc[MR * NR] = {0};
  for (long k = 0; k < kc; ++k) {
    const float* a = Ap + k * acs;
    const float* b = Bp + k * NR;
    for (int r = 0; r < MR; ++r) {
      const float ar = a[(r < mr ? r : 0) * ars];
      for (int j = 0; j < NR; ++j) acc[r * NR + j] += ar * b[j];
    }
  }
  storeTile(acc, C, crs, ccs, mr, nr, accumulate);
}

#if LL_X86
// AVX2+FMA microkernel: 6×16 tile in 12 ymm accumulators.
template <bool kPacked>
__attribute__((target("avx2,fma"))) inline void kernelAvx2T(long kc, const float* Ap, long ars, long acs, const float* Bp,
                                                            float* C, long crs, long ccs, int mr, int nr,
                                                            bool accumulate) {
  // Row pointers for the direct case (rows past mr read row 0: valid memory, results discarded).
  const float* a0 = Ap;
  const float* a1 = Ap + (mr > 1 ? 1 : 0) * ars;
  const float* a2 = Ap + (mr > 2 ? 2 : 0) * ars;
  const float* a3 = Ap + (mr > 3 ? 3 : 0) * ars;
  const float* a4 = Ap + (mr > 4 ? 4 : 0) * ars;
  const float* a5 = Ap + (mr > 5 ? 5 : 0) * ars;
  __m256 c00 = _mm256_setzero_ps(), c01 = _mm256_setzero_ps(), c10 = _mm256_setzero_ps(), c11 = _mm256_setzero_ps();
  __m256 c20 = _mm256_setzero_ps(), c21 = _mm256_setzero_ps(), c30 = _mm256_setzero_ps(), c31 = _mm256_setzero_ps();
  __m256 c40 = _mm256_setzero_ps(), c41 = _mm256_setzero_ps(), c50 = _mm256_setzero_ps(), c51 = _mm256_setzero_ps();
  for (long k = 0; k < kc; ++k) {
    const __m256 b0 = _mm256_loadu_ps(Bp + k * NR);
    const __m256 b1 = _mm256_loadu_ps(Bp + k * NR + 8);
    const float* a = Ap + k * MR;
    const long o = k * acs;
    __m256 ar = _mm256_broadcast_ss(kPacked ? a + 0 : a0 + o);
    c00 = _mm256_fmadd_ps(ar, b0, c00);
    c01 = _mm256_fmadd_ps(ar, b1, c01);
    ar = _mm256_broadcast_ss(kPacked ? a + 1 : a1 + o);
    c10 = _mm256_fmadd_ps(ar, b0, c10);
    c11 = _mm256_fmadd_ps(ar, b1, c11);
    ar = _mm256_broadcast_ss(kPacked ? a + 2 : a2 + o);
    c20 = _mm256_fmadd_ps(ar, b0, c20);
    c21 = _mm256_fmadd_ps(ar, b1, c21);
    ar = _mm256_broadcast_ss(kPacked ? a + 3 : a3 + o);
    c30 = _mm256_fmadd_ps(ar, b0, c30);
    c31 = _mm256_fmadd_ps(ar, b1, c31);
    ar = _mm256_broadcast_ss(kPacked ? a + 4 : a4 + o);
    c40 = _mm256_fmadd_ps(ar, b0, c40);
    c41 = _mm256_fmadd_ps(ar, b1, c41);
    ar = _mm256_broadcast_ss(kPacked ? a + 5 : a5 + o);
    c50 = _mm256_fmadd_ps(ar, b0, c50);
    c51 = _mm256_fmadd_ps(ar, b1, c51);
  }
  const __m256 acc[MR][2] = {{c00, c01}, {c10, c11}, {c20, c21}, {c30, c31}, {c40, c41}, {c50, c51}};
  if (mr == MR && nr == NR && ccs == 1) {
    for (int r = 0; r < MR; ++r) {
      float* c = C + r * crs;
      if (accumulate) {
        _mm256_storeu_ps(c, _mm256_add_ps(_mm256_loadu_ps(c), acc[r][0]));
        _mm256_storeu_ps(c + 8, _mm256_add_ps(_mm256_loadu_ps(c + 8), acc[r][1]));
      } else {
        _mm256_storeu_ps(c, acc[r][0]);
        _mm256_storeu_ps(c + 8, acc[r][1]);
      }
    }
    return;
  }
  alignas(32) float tile[MR * NR];
  for (int r = 0; r < MR; ++r) {
    _mm256_store_ps(tile + r * NR, acc[r][0]);
    _mm256_store_ps(tile + r * NR + 8, acc[r][1]);
  }
  storeTile(tile, C, crs, ccs, mr, nr, accumulate);
}

__attribute__((target("avx2,fma"))) void kernelAvx2(long kc, const float* Ap, long ars, long acs, const float* Bp, float* C,
                                                    long crs, long ccs, int mr, int nr, bool accumulate) {
  if (ars == 1 && acs == MR)
    kernelAvx2T<true>(kc, Ap, ars, acs, Bp, C, crs, ccs, mr, nr, accumulate);
  else
    kernelAvx2T<false>(kc, Ap, ars, acs, Bp, C, crs, ccs, mr, nr, accumulate);
}
#endif

using Kernel = void (*)(long, const float*, long, long, const float*, float*, long, long, int, int, bool);

Kernel pickKernel() {
  // LORA_LAB_NATIVE_MATMUL_ISA=portable forces the portable microkernel (to test it on an AVX2 machine).
  const char* isa = std::getenv("LORA_LAB_NATIVE_MATMUL_ISA");
  if (isa && std::strcmp(isa, "portable") == 0) return kernelPortable;
#if LL_X86
  __builtin_cpu_init();
  if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) return kernelAvx2;
#endif
  return kernelPortable;
}

const Kernel kKernel = pickKernel();

// Packing buffers of one worker, kept across calls (grow-only): no malloc/free or page faults per product.
struct Workspace {
  float* buf[2] = {nullptr, nullptr};
  size_t cap[2] = {0, 0};
  float* get(int i, size_t n) {
    if (n > cap[i]) {
      free(buf[i]);
      void* p = nullptr;
      buf[i] = posix_memalign(&p, 64, n * sizeof(float)) == 0 ? static_cast<float*>(p) : nullptr;
      cap[i] = buf[i] ? n : 0;
    }
    return buf[i];
  }
};

// One workspace per worker index; calls are serialised by gMutex (tfjs runs kernels on one thread, but a second
// addon user in a worker_thread must not share buffers).
constexpr int kMaxThreads = 64;
Workspace gWorkspaces[kMaxThreads];
std::mutex gMutex;

// A few rows (a decode step has M = 1): packing B would copy all of it for a single use, so stream B once
// instead. Row-major B ([K, N]): axpy over its rows (vectorised by the compiler); transposed B ([N, K]): dot
// products along K with 8 partial sums.
constexpr long kSmallM = 4;

// Compiled twice where the toolchain can pick a version at load time (GCC/Clang on x86-64 Linux): AVX2 (8 lanes)
// and the baseline (SSE2, 4 lanes). Every output element is formed in the same order in both (lane u of the dot
// product's partial sums always takes k ≡ u mod 8), so their results are bit-identical.
#if LL_X86 && defined(__linux__) && defined(__GNUC__)
#define LL_SIMD_CLONES __attribute__((target_clones("avx2", "default")))
#else
#define LL_SIMD_CLONES
#endif

LL_SIMD_CLONES
void gemmSmallM(const View& A, const View& B, float* C, long ldc, long K, long i0, long i1, long j0, long j1,
                bool accumulateC) {
  std::vector<float> row;  // with accumulateC the row's product is formed apart, then added: C + (A·B) as tf.add
  for (long i = i0; i < i1; ++i) {
    float* c = C + i * ldc;
    const float* a = A.p + i * A.rs;
    if (B.cs == 1) {
      float* out = c;
      if (accumulateC) {
        row.assign(static_cast<size_t>(j1), 0.f);
        out = row.data();
      } else {
        std::fill(c + j0, c + j1, 0.f);
      }
      for (long k = 0; k < K; ++k) {
        const float ak = a[k * A.cs];
        const float* b = B.p + k * B.rs;
        for (long j = j0; j < j1; ++j) out[j] += ak * b[j];
      }
      if (accumulateC)
        for (long j = j0; j < j1; ++j) c[j] += out[j];
    } else {
      for (long j = j0; j < j1; ++j) {
        const float* b = B.p + j * B.cs;
        float s[8] = {0, 0, 0, 0, 0, 0, 0, 0};
        long k = 0;
        if (A.cs == 1 && B.rs == 1) {
          for (; k + 8 <= K; k += 8)
            for (int u = 0; u < 8; ++u) s[u] += a[k + u] * b[k + u];
        }
        for (; k < K; ++k) s[0] += a[k * A.cs] * b[k * B.rs];
        const float dot = ((s[0] + s[1]) + (s[2] + s[3])) + ((s[4] + s[5]) + (s[6] + s[7]));
        c[j] = accumulateC ? c[j] + dot : dot;
      }
    }
  }
}

// Operand swap: with few rows and a transposed B (B.rs == 1, e.g. dx = dy·W with W stored [in,out] read as
// op(B) = Wᵀ), packing B costs more than the products it feeds. Computing Cᵀ = op(B)ᵀ·op(A)ᵀ instead reads the big
// operand in place as the microkernel's direct rows and packs only the small one; the tile is stored transposed,
// a fixed cost per tile that a short k loop does not repay. Measured on one thread (docs/cpu-kernels.md §2c), the
// swap wins 1.5–2× at M ≤ 32 and 1.1–1.2× at M = 64 from K ≈ 96; it breaks even near K = 128 at M = 96, near
// K = 384 at M = 192, and loses at M = 384 up to K = 384: hence M ≤ 256 and K ≥ 2.5·M − 100. Every element still
// gets the same FMA chain over k (a·b = b·a), so results are bit-identical to the normal path.
bool swapOperands(const View& B, long M, long N, long K) {
  return M <= 256 && 2 * K >= 5 * M - 200 && N > 2 * NR && M < N && B.rs == 1 && B.cs != 1;
}

// The blocked product C[i0:i1, j0:j1] = op(A)[i0:i1, :] · op(B)[:, j0:j1] (+= with accumulateC), C's element (i, j)
// at C[i * crs + j * ccs]: B packed in KC×NC blocks, A packed in MC×KC blocks or, with `direct`, read in place.
// Returns false on OOM.
bool gemmPacked(Workspace& ws, const View& A, const View& B, float* C, long crs, long ccs, long K, long i0, long i1,
                long j0, long j1, bool accumulateC, bool direct) {
  const long kcMax = std::min(KC, K);
  const long ncMax = std::min(NC, ((j1 - j0 + NR - 1) / NR) * NR);
  const long mcMax = std::min(MC, ((i1 - i0 + MR - 1) / MR) * MR);
  float* Bp = ws.get(0, static_cast<size_t>(kcMax * ncMax));
  float* Ap = direct ? nullptr : ws.get(1, static_cast<size_t>(kcMax * mcMax));
  if (!Bp || (!direct && !Ap)) return false;
  for (long jc = j0; jc < j1; jc += NC) {
    const long nc = std::min(NC, j1 - jc);
    for (long pc = 0; pc < K; pc += KC) {
      const long kc = std::min(KC, K - pc);
      const bool accumulate = accumulateC || pc > 0;
      packB(B, pc, kc, jc, nc, Bp);
      for (long ic = i0; ic < i1; ic += MC) {
        const long mc = std::min(MC, i1 - ic);
        if (!direct) packA(A, ic, mc, pc, kc, Ap);
        const auto tile = [&](long ir, long jr) {
          const int mr = static_cast<int>(std::min<long>(MR, mc - ir));
          const int nr = static_cast<int>(std::min<long>(NR, nc - jr));
          const float* bp = Bp + (jr / NR) * kc * NR;
          float* c = C + (ic + ir) * crs + (jc + jr) * ccs;
          if (direct)
            kKernel(kc, A.p + (ic + ir) * A.rs + pc * A.cs, A.rs, A.cs, bp, c, crs, ccs, mr, nr, accumulate);
          else
            kKernel(kc, Ap + (ir / MR) * kc * MR, 1, MR, bp, c, crs, ccs, mr, nr, accumulate);
        };
        // Packed A: each B micro-panel stays in L1 while the A panels stream from L2. Direct A: its MR rows stay in
        // L1 while the packed B panels stream (A read in place is the big operand there, read once).
        if (direct)
          for (long ir = 0; ir < mc; ir += MR)
            for (long jr = 0; jr < nc; jr += NR) tile(ir, jr);
        else
          for (long jr = 0; jr < nc; jr += NR)
            for (long ir = 0; ir < mc; ir += MR) tile(ir, jr);
      }
    }
  }
  return true;
}

// C[i0:i1, j0:j1] = op(A)[i0:i1, :] · op(B)[:, j0:j1] (accumulateC: C += …); C is row-major with row stride ldc.
// With accumulateC and K ≤ KC each element gets C + (its whole dot product), i.e. exactly tf.add(C, A·B).
// Returns false on OOM.
bool gemmBlock(Workspace& ws, const View& A, const View& B, float* C, long ldc, long K, long i0, long i1, long j0,
               long j1, bool accumulateC) {
  if (i1 <= i0 || j1 <= j0) return true;
  if (K == 0) {
    if (!accumulateC)
      for (long i = i0; i < i1; ++i) std::fill(C + i * ldc + j0, C + i * ldc + j1, 0.f);
    return true;
  }
  if (i1 - i0 <= kSmallM) {
    gemmSmallM(A, B, C, ldc, K, i0, i1, j0, j1, accumulateC);
    return true;
  }
  // Swapped: Cᵀ[j0:j1, i0:i1] = op(B)ᵀ · op(A)ᵀ, op(B)ᵀ read in place, stored through C's transposed strides.
  if (swapOperands(B, i1 - i0, j1 - j0, K))
    return gemmPacked(ws, View{B.p, B.cs, B.rs}, View{A.p, A.cs, A.rs}, C, 1, ldc, K, j0, j1, i0, i1, accumulateC, true);
  // With at most two column panels, each packed A panel would be used once or twice: packing it costs as much as
  // the products, so the microkernel reads A in place instead (narrow outputs such as x·Aᵀ with N = r).
  return gemmPacked(ws, A, B, C, ldc, 1, K, i0, i1, j0, j1, accumulateC, j1 - j0 <= 2 * NR);
}

struct Problem {
  const float* a;
  const float* b;
  float* c;
  long batchA, batchB, batch, M, N, K;
  bool transA, transB;
  bool accumulateC;
};

View viewA(const Problem& P, long bi) {
  const float* p = P.a + (bi % P.batchA) * P.M * P.K;
  return P.transA ? View{p, 1, P.M} : View{p, P.K, 1};  // stored [K, M] or [M, K]
}
View viewB(const Problem& P, long bi) {
  const float* p = P.b + (bi % P.batchB) * P.K * P.N;
  return P.transB ? View{p, 1, P.K} : View{p, P.N, 1};  // stored [N, K] or [K, N]
}

// One unit of work: batches [b0, b1) over rows [i0, i1) and cols [j0, j1).
bool runPart(Workspace& ws, const Problem& P, long b0, long b1, long i0, long i1, long j0, long j1) {
  for (long bi = b0; bi < b1; ++bi)
    if (!gemmBlock(ws, viewA(P, bi), viewB(P, bi), P.c + bi * P.M * P.N, P.N, P.K, i0, i1, j0, j1, P.accumulateC))
      return false;
  return true;
}

// Persistent worker threads, started on first use and kept for the life of the process (never destroyed, so exit
// does not join them): a product's parts 1..n−1 run on them, part 0 on the caller. Starting a std::thread per
// product cost tens of microseconds, as much as a whole small product; waking a sleeping worker through a condition
// variable still costs ~10 µs. So a worker spins for a while (kSpinNs) after each job before it sleeps, and the
// caller spins while it waits for the last part: a training step issues products microseconds apart, and then a
// split product costs no wake-up (as OpenMP's spinning threads do for PyTorch).
long spinNs() {
  const char* v = std::getenv("LORA_LAB_NATIVE_MATMUL_SPIN_US");
  return (v ? std::atol(v) : 200) * 1000;
}
const long kSpinNs = spinNs();

inline void cpuRelax() {
#if LL_X86
  _mm_pause();
#endif
}

inline long nowNs() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

// Spins until done() or kSpinNs have passed; true if done() became true.
template <typename F>
bool spinUntil(F done) {
  if (done()) return true;
  const long t0 = nowNs();
  for (;;) {
    for (int k = 0; k < 64; ++k) {
      if (done()) return true;
      cpuRelax();
    }
    if (nowNs() - t0 > kSpinNs) return done();
    std::this_thread::yield();  // where cores are oversubscribed (several workers on one machine), let others run
  }
}

class Pool {
 public:
  // Runs work(t) for t in [0, parts); returns when all have finished. Calls are serialised by gMutex.
  void run(int parts, const std::function<void(int)>& work) {
    try {
      while (static_cast<int>(workers_.size()) < parts - 1) {
        const int idx = static_cast<int>(workers_.size()) + 1;
        workers_.emplace_back([this, idx] { loop(idx); });
      }
    } catch (...) {
    }
    const int onWorkers = std::min<int>(parts - 1, static_cast<int>(workers_.size()));
    {
      std::lock_guard<std::mutex> l(m_);
      job_ = &work;
      parts_ = onWorkers + 1;
      pending_.store(onWorkers, std::memory_order_relaxed);
      generation_.fetch_add(1, std::memory_order_release);
    }
    cv_.notify_all();
    work(0);
    for (int t = onWorkers + 1; t < parts; ++t) work(t);  // threads that could not be started
    if (!spinUntil([&] { return pending_.load(std::memory_order_acquire) == 0; })) {
      std::unique_lock<std::mutex> l(m_);
      done_.wait(l, [&] { return pending_.load(std::memory_order_acquire) == 0; });
    }
  }

 private:
  void loop(int idx) {
    long seen = 0;
    for (;;) {
      if (!spinUntil([&] { return generation_.load(std::memory_order_acquire) != seen; })) {
        std::unique_lock<std::mutex> l(m_);
        cv_.wait(l, [&] { return generation_.load(std::memory_order_acquire) != seen; });
      }
      const std::function<void(int)>* job;
      int parts;
      {
        std::lock_guard<std::mutex> l(m_);
        seen = generation_.load(std::memory_order_acquire);
        job = job_;
        parts = parts_;
      }
      if (idx >= parts) continue;
      (*job)(idx);
      if (pending_.fetch_sub(1, std::memory_order_acq_rel) == 1) {
        std::lock_guard<std::mutex> l(m_);
        done_.notify_one();
      }
    }
  }
  std::mutex m_;
  std::condition_variable cv_, done_;
  std::vector<std::thread> workers_;
  const std::function<void(int)>* job_ = nullptr;
  int parts_ = 0;
  std::atomic<int> pending_{0};
  std::atomic<long> generation_{0};
};

Pool* const gPool = new Pool;

// Products below this many FLOPs run on one thread (LORA_LAB_NATIVE_MATMUL_SPLIT_MFLOP, default 1): a spinning worker
// takes a part within a microsecond or two, so products from ~10 µs of work gain from a second thread (measured on
// the quickstart d = 64 LoRA products, docs/cpu-kernels.md §2a). Splits across batches
// (attention's per-head products) share no packing and start at a quarter of it.
double splitFlops() {
  const char* v = std::getenv("LORA_LAB_NATIVE_MATMUL_SPLIT_MFLOP");
  const double m = v ? std::atof(v) : 0;
  return (m > 0 ? m : 1.0) * 1e6;
}
const double kSplitFlops = splitFlops();

// Splits the product over `threads` workers (the caller's thread is one of them).
bool runProblem(const Problem& P, int threads) {
  const double flops = 2.0 * P.batch * P.M * P.N * P.K;
  const bool batchSplit = P.batch >= threads;
  if (threads <= 1 || flops < (batchSplit ? kSplitFlops / 4 : kSplitFlops))
    return runPart(gWorkspaces[0], P, 0, P.batch, 0, P.M, 0, P.N);
  std::vector<std::pair<long, long>> bounds;  // ranges over the split axis
  int axis;                                   // 0: batch, 1: rows (M), 2: cols (N)
  long extent, align;
  if (batchSplit) {
    axis = 0, extent = P.batch, align = 1;
  } else if (P.M >= P.N) {  // split the larger side: each thread then packs half of that operand, all of the other
    axis = 1, extent = P.M, align = MR;
  } else {
    axis = 2, extent = P.N, align = NR;
  }
  const long units = (extent + align - 1) / align;
  const int parts = static_cast<int>(std::min<long>(threads, units));
  if (parts <= 1) return runPart(gWorkspaces[0], P, 0, P.batch, 0, P.M, 0, P.N);
  for (int t = 0; t < parts; ++t) {
    const long u0 = units * t / parts, u1 = units * (t + 1) / parts;
    bounds.emplace_back(std::min(extent, u0 * align), std::min(extent, u1 * align));
  }
  std::vector<char> ok(parts, 1);
  const std::function<void(int)> work = [&](int t) {
    const long s = bounds[t].first, e = bounds[t].second;
    bool r;
    if (axis == 0)
      r = runPart(gWorkspaces[t], P, s, e, 0, P.M, 0, P.N);
    else if (axis == 1)
      r = runPart(gWorkspaces[t], P, 0, P.batch, s, e, 0, P.N);
    else
      r = runPart(gWorkspaces[t], P, 0, P.batch, 0, P.M, s, e);
    ok[t] = r ? 1 : 0;
  };
  gPool->run(parts, work);
  return std::all_of(ok.begin(), ok.end(), [](char v) { return v != 0; });
}

// Threads for the fused kernels' row and element loops (setThreads; products get theirs with each call).
int gElementThreads = 1;

}  // namespace

// f(begin, end) over [0, n) in contiguous parts on the pool, one per thread, when n ≥ 2·grain (else one call on
// this thread). Every part computes its own indices whole, so results do not depend on the split (fused.cc).
void parallelFor(long n, long grain, const std::function<void(long, long)>& f) {
  const int parts = static_cast<int>(std::min<long>(gElementThreads, grain > 0 ? n / grain : n));
  if (parts <= 1) {
    f(0, n);
    return;
  }
  std::lock_guard<std::mutex> lock(gMutex);
  gPool->run(parts, [&](int t) { f(n * t / parts, n * (t + 1) / parts); });
}

namespace {

// ---- N-API glue -------------------------------------------------------------------------------------------------

napi_value throwError(napi_env env, const char* msg) {
  napi_throw_error(env, "LORA_LAB_MATMUL", msg);
  return nullptr;
}

bool getInt(napi_env env, napi_value v, int64_t* out) { return napi_get_value_int64(env, v, out) == napi_ok; }

// sgemm(heap: ArrayBuffer, aByteOffset, bByteOffset, cByteOffset, batchA, batchB, M, N, K, transposeA, transposeB,
//       threads[, accumulate]): writes (or, with accumulate, adds) the [max(batchA, batchB), M, N] product at
//       cByteOffset. Throws on bad arguments.
napi_value Sgemm(napi_env env, napi_callback_info info) {
  size_t argc = 13;
  napi_value argv[13];
  if (napi_get_cb_info(env, info, &argc, argv, nullptr, nullptr) != napi_ok || argc < 12)
    return throwError(env, "sgemm expects 12 or 13 arguments "
                           "(heap, aOff, bOff, cOff, batchA, batchB, M, N, K, tA, tB, threads[, accumulate])");
  void* data = nullptr;
  size_t byteLength = 0;
  bool isArrayBuffer = false;
  napi_is_arraybuffer(env, argv[0], &isArrayBuffer);
  if (!isArrayBuffer || napi_get_arraybuffer_info(env, argv[0], &data, &byteLength) != napi_ok)
    return throwError(env, "sgemm: argument 0 must be an ArrayBuffer (the wasm heap)");
  int64_t v[8];
  for (int i = 0; i < 8; ++i)
    if (!getInt(env, argv[1 + i], &v[i]) || v[i] < 0) return throwError(env, "sgemm: offsets and sizes must be non-negative integers");
  bool tA = false, tB = false;
  if (napi_get_value_bool(env, argv[9], &tA) != napi_ok || napi_get_value_bool(env, argv[10], &tB) != napi_ok)
    return throwError(env, "sgemm: transposeA/transposeB must be booleans");
  int64_t threads = 1;
  if (!getInt(env, argv[11], &threads)) return throwError(env, "sgemm: threads must be an integer");
  bool accumulate = false;
  if (argc > 12 && napi_get_value_bool(env, argv[12], &accumulate) != napi_ok)
    return throwError(env, "sgemm: accumulate must be a boolean");
  const int64_t aOff = v[0], bOff = v[1], cOff = v[2], batchA = v[3], batchB = v[4], M = v[5], N = v[6], K = v[7];
  if (batchA < 1 || batchB < 1) return throwError(env, "sgemm: batch sizes must be >= 1");
  if ((aOff | bOff | cOff) % 4 != 0) return throwError(env, "sgemm: byte offsets must be multiples of 4");
  const int64_t batch = std::max(batchA, batchB);
  const double len = static_cast<double>(byteLength);
  if (aOff + 4.0 * batchA * M * K > len || bOff + 4.0 * batchB * K * N > len || cOff + 4.0 * batch * M * N > len)
    return throwError(env, "sgemm: an operand lies outside the heap ArrayBuffer");
  auto* base = static_cast<uint8_t*>(data);
  Problem P{reinterpret_cast<const float*>(base + aOff), reinterpret_cast<const float*>(base + bOff),
            reinterpret_cast<float*>(base + cOff), batchA, batchB, batch, M, N, K, tA, tB, accumulate};
  std::lock_guard<std::mutex> lock(gMutex);
  if (!runProblem(P, static_cast<int>(std::max<int64_t>(1, std::min<int64_t>(threads, kMaxThreads)))))
    return throwError(env, "sgemm: out of memory for packing buffers");
  return nullptr;
}

// setThreads(n): threads for the fused kernels' loops (src/native-matmul.ts passes the sgemm thread count).
napi_value SetThreads(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  int64_t n = 1;
  if (napi_get_cb_info(env, info, &argc, argv, nullptr, nullptr) != napi_ok || argc < 1 || !getInt(env, argv[0], &n))
    return throwError(env, "setThreads expects an integer");
  gElementThreads = static_cast<int>(std::max<int64_t>(1, std::min<int64_t>(n, kMaxThreads)));
  return nullptr;
}

napi_value Isa(napi_env env, napi_callback_info) {
  napi_value s;
  napi_create_string_utf8(env, kKernel == kernelPortable ? "portable" : "avx2+fma", NAPI_AUTO_LENGTH, &s);
  return s;
}

napi_value Init(napi_env env, napi_value exports) {
  registerFusedKernels(env, exports);
  napi_property_descriptor props[] = {
      {"sgemm", nullptr, Sgemm, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"isa", nullptr, Isa, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"setThreads", nullptr, SetThreads, nullptr, nullptr, nullptr, napi_default, nullptr},
  };
  napi_define_properties(env, exports, sizeof(props) / sizeof(props[0]), props);
  return exports;
}

}  // namespace

NAPI_MODULE(NODE_GYP_MODULE_NAME, Init)
