// The GPU self test: each kernel against the host reference (the same math.h arithmetic) on random
// inputs, and cuBLASLt's bf16 GEMM in each transpose against a float64 host product.
#include "selftest.h"

#include <cmath>
#include <cstdlib>
#include <string>
#include <cstdint>
#include <functional>
#include <random>

#include "kernels.h"
#include "reference.h"

namespace sftc {
namespace {

struct Failure {
  std::string what;
};

void check(cudaError_t e, const char* what) {
  if (e != cudaSuccess) throw Failure{std::string(what) + ": " + cudaGetErrorString(e)};
}

// A device copy of a host vector, freed with the scope.
template <typename T>
struct Dev {
  T* p = nullptr;
  size_t n = 0;
  explicit Dev(const std::vector<T>& h) : n(h.size()) {
    check(cudaMalloc(&p, n * sizeof(T) + 16), "cudaMalloc");
    if (n) check(cudaMemcpy(p, h.data(), n * sizeof(T), cudaMemcpyHostToDevice), "cudaMemcpy");
  }
  ~Dev() { cudaFree(p); }
  std::vector<T> get() const {
    std::vector<T> h(n);
    check(cudaDeviceSynchronize(), "kernel");
    if (n) check(cudaMemcpy(h.data(), p, n * sizeof(T), cudaMemcpyDeviceToHost), "cudaMemcpy back");
    return h;
  }
};

std::mt19937 rng(1234);
std::vector<float> randn(size_t n, float scale = 1.0f) {
  std::normal_distribution<float> d(0.0f, scale);
  std::vector<float> v(n);
  for (auto& x : v) x = d(rng);
  return v;
}

double relError(const std::vector<float>& gpu, const std::vector<float>& host) {
  double maxDiff = 0, maxRef = 0;
  for (size_t i = 0; i < host.size(); i++) {
    maxDiff = std::fmax(maxDiff, std::fabs(double(gpu[i]) - host[i]));
    maxRef = std::fmax(maxRef, std::fabs(double(host[i])));
  }
  if (std::isnan(maxDiff)) return INFINITY;
  return maxDiff / (maxRef + 1e-6);
}

void run(std::vector<CheckResult>& out, const char* name, double tol, const std::function<double()>& body) {
  CheckResult r{name, 0, tol, false, ""};
  try {
    r.maxError = body();
    r.ok = r.maxError <= tol;
  } catch (const Failure& f) {
    r.error = f.what;
    cudaGetLastError();  // clear a sticky launch error for the next check
  }
  out.push_back(r);
}

}  // namespace

std::vector<CheckResult> selfTest(rt::Lt* lt) {
  std::vector<CheckResult> out;
  cudaStream_t st = nullptr;

  run(out, "bf16 round trip", 0, [&] {
    auto x = randn(4099);
    std::vector<uint16_t> hb(x.size());
    std::vector<float> hf(x.size());
    for (size_t i = 0; i < x.size(); i++) hf[i] = bf16ToF32(hb[i] = f32ToBf16(x[i]));
    Dev<float> dx(x), df(std::vector<float>(x.size()));
    Dev<uint16_t> db(std::vector<uint16_t>(x.size()));
    gpu::f32ToBf16(dx.p, db.p, x.size(), st);
    gpu::bf16ToF32(db.p, df.p, x.size(), st);
    return relError(df.get(), hf);
  });

  run(out, "rmsnorm forward+backward", 1e-5, [&] {
    const int rows = 37, dim = 896;
    auto x = randn(rows * dim), w = randn(dim), dy = randn(rows * dim);
    std::vector<float> y(rows * dim), rs(rows), dx(rows * dim), dw(dim);
    ref::rmsNormForward(x.data(), w.data(), y.data(), rs.data(), rows, dim, 1e-6f);
    ref::rmsNormBackward(dy.data(), x.data(), w.data(), rs.data(), dx.data(), dw.data(), rows, dim);
    Dev<float> gx(x), gw(w), gy(y), gr(rs), gdy(dy), gdx(dx), gdw(std::vector<float>(dim, 0.0f));
    gpu::rmsNormForward(gx.p, gw.p, gy.p, gr.p, rows, dim, 1e-6f, st);
    gpu::rmsNormBackward(gdy.p, gx.p, gw.p, gr.p, gdx.p, gdw.p, rows, dim, st);
    return std::fmax(std::fmax(relError(gy.get(), y), relError(gdx.get(), dx)), relError(gdw.get(), dw));
  });

  run(out, "rope forward+inverse", 1e-6, [&] {
    const int T = 19, heads = 3, hd = 64;
    auto x = randn(T * heads * hd), c = randn(T * hd), s = randn(T * hd);
    std::vector<float> y(x.size()), yi(x.size());
    ref::rope(x.data(), c.data(), s.data(), y.data(), T, heads, hd, false);
    ref::rope(x.data(), c.data(), s.data(), yi.data(), T, heads, hd, true);
    Dev<float> gx(x), gc(c), gs(s), gy(y), gyi(yi);
    gpu::rope(gx.p, gc.p, gs.p, gy.p, T, heads, hd, false, st);
    gpu::rope(gx.p, gc.p, gs.p, gyi.p, T, heads, hd, true, st);
    return std::fmax(relError(gy.get(), y), relError(gyi.get(), yi));
  });

  run(out, "swiglu forward+backward", 1e-5, [&] {
    const int n = 10007;
    auto g = randn(n, 3), u = randn(n), dy = randn(n);
    std::vector<float> y(n), dg(n), du(n);
    ref::swigluForward(g.data(), u.data(), y.data(), n);
    ref::swigluBackward(dy.data(), g.data(), u.data(), dg.data(), du.data(), n);
    Dev<float> gg(g), gu(u), gy(y), gdy(dy), gdg(dg), gdu(du);
    gpu::swigluForward(gg.p, gu.p, gy.p, n, st);
    gpu::swigluBackward(gdy.p, gg.p, gu.p, gdg.p, gdu.p, n, st);
    return std::fmax(std::fmax(relError(gy.get(), y), relError(gdg.get(), dg)), relError(gdu.get(), du));
  });

  // Each attention kernel (chooseAttention: tensor cores at head dims 64 and 128, the tiled CUDA-core
  // kernels at 16/32/64/128, the per-row ones) over several tiles and partial ones; masked: 4 prefix keys
  // and packed segments with padding. The tensor cores multiply bf16 operands (8 bits of mantissa, as
  // PyTorch's bf16 SDPA): a looser tolerance there, still far below an indexing mistake's O(1).
  struct AttnCase {
    const char* name;
    ref::AttnDims d;
    bool masked;
    const char* cap;  // SFTKIT_CUDA_ATTENTION for the case (nullptr: the default choice)
    double tolerance;
  };
  const AttnCase attnCases[] = {
      {"attention gqa causal (tensor cores)", {2, 33, 33, 4, 2, 64}, false, nullptr, 3e-2},
      {"attention gqa+prefix+segments (tensor cores)", {2, 33, 37, 4, 2, 64}, true, nullptr, 3e-2},
      {"attention tensor cores hd64 150 rows, 3 heads/kv", {2, 150, 154, 6, 2, 64}, true, nullptr, 3e-2},
      {"attention tensor cores hd64 150 rows causal", {1, 150, 150, 6, 2, 64}, false, nullptr, 3e-2},
      {"attention tensor cores hd64 200 rows, 7 heads/kv", {1, 200, 200, 14, 2, 64}, false, nullptr, 3e-2},
      {"attention tensor cores hd128 70 rows", {1, 70, 74, 4, 1, 128}, true, nullptr, 3e-2},
      {"attention tensor cores hd128 130 rows causal", {2, 130, 130, 4, 2, 128}, false, nullptr, 3e-2},
      {"attention tiled hd64 150 rows, 3 heads/kv", {2, 150, 154, 6, 2, 64}, true, "tiled", 1e-4},
      {"attention tiled hd128 70 rows", {1, 70, 74, 4, 1, 128}, true, "tiled", 1e-4},
      {"attention tiled hd32 130 rows", {2, 130, 130, 2, 2, 32}, false, nullptr, 1e-4},
      {"attention tiled hd16 65 rows", {1, 65, 67, 2, 1, 16}, true, nullptr, 1e-4},
      {"attention per-row hd48", {1, 40, 42, 2, 1, 48}, true, nullptr, 1e-4},
      {"attention per-row hd64 (SFTKIT_CUDA_ATTENTION=rows)", {2, 33, 37, 4, 2, 64}, true, "rows", 1e-4},
  };
  for (const AttnCase& c : attnCases)
    run(out, c.name, c.tolerance, [&] {
      struct Cap {  // the case's kernel choice, restored after it
        std::string before;
        bool had;
        explicit Cap(const char* v) : had(std::getenv("SFTKIT_CUDA_ATTENTION") != nullptr) {
          if (had) before = std::getenv("SFTKIT_CUDA_ATTENTION");
          if (v) setenv("SFTKIT_CUDA_ATTENTION", v, 1);
          else unsetenv("SFTKIT_CUDA_ATTENTION");
        }
        ~Cap() {
          if (had) setenv("SFTKIT_CUDA_ATTENTION", before.c_str(), 1);
          else unsetenv("SFTKIT_CUDA_ATTENTION");
        }
      } cap(c.cap);
      const ref::AttnDims d = c.d;
      const bool masked = c.masked;
      const float scale = 1.0f / std::sqrt(float(d.hd));
      auto q = randn(size_t(d.B) * d.S * d.H * d.hd), k = randn(size_t(d.B) * d.K * d.KV * d.hd),
           v = randn(k.size()), dout = randn(q.size());
      std::vector<int32_t> seg(d.B * d.S);
      for (int i = 0; i < d.B * d.S; i++) seg[i] = (i % d.S) < d.S - 3 ? 1 + (i % d.S) / 12 : 0;
      const int32_t* sp = masked ? seg.data() : nullptr;
      std::vector<float> o(q.size()), l(size_t(d.B) * d.H * d.S), dq(q.size()), dk(k.size()), dv(k.size());
      ref::attentionForward(q.data(), k.data(), v.data(), sp, o.data(), l.data(), d, scale);
      ref::attentionBackward(q.data(), k.data(), v.data(), sp, o.data(), l.data(), dout.data(), dq.data(), dk.data(),
                             dv.data(), d, scale);
      Dev<float> gq(q), gk(k), gv(v), go(o), gl(l), gdo(dout), gdq(dq), gdk(std::vector<float>(k.size(), 0.0f)),
          gdv(std::vector<float>(k.size(), 0.0f));
      Dev<int32_t> gseg(seg);
      const gpu::AttnDims gd{d.B, d.S, d.K, d.H, d.KV, d.hd};
      const int32_t* gsp = masked ? gseg.p : nullptr;
      gpu::attentionForward(gq.p, gk.p, gv.p, gsp, go.p, gl.p, gd, scale, st);
      double e = std::fmax(relError(go.get(), o), relError(gl.get(), l));
      gpu::attentionBackward(gq.p, gk.p, gv.p, gsp, go.p, gl.p, gdo.p, gdq.p, gdk.p, gdv.p, gd, scale, st);
      return std::fmax(e, std::fmax(relError(gdq.get(), dq), std::fmax(relError(gdk.get(), dk), relError(gdv.get(), dv))));
    });

  run(out, "cross-entropy", 1e-5, [&] {
    const int rows = 13, V = 5003;
    auto lg = randn(size_t(rows) * V, 2);
    std::vector<int32_t> t(rows);
    for (int r = 0; r < rows; r++) t[r] = r % 4 == 3 ? -100 : (r * 977) % V;
    std::vector<float> grad(lg.size());
    int64_t count;
    const double loss = ref::crossEntropy(lg.data(), t.data(), rows, V, 0.5f, grad.data(), &count);
    Dev<float> gl(lg), gg(grad), gloss{std::vector<float>(rows)};
    Dev<int32_t> gt(t);
    gpu::crossEntropy(gl.p, gt.p, rows, V, 0.5f, gloss.p, gg.p, st);
    double sum = 0;
    for (float x : gloss.get()) sum += x;
    return std::fmax(std::fabs(sum - loss) / std::fabs(loss), relError(gg.get(), grad));
  });

  run(out, "adamw", 1e-6, [&] {
    const int n = 5000;
    auto p = randn(n), g = randn(n), m = randn(n, 0.1f), v = randn(n, 0.1f);
    for (auto& x : v) x = x * x;
    Dev<float> gp(p), gg(g), gm(m), gv(v);
    ref::adamw(p.data(), g.data(), m.data(), v.data(), n, 1e-3f, 0.9f, 0.999f, 1e-8f, 0.01f, 0.19f, 0.0199f, 0.7f);
    gpu::adamw(gp.p, gg.p, gm.p, gv.p, n, 1e-3f, 0.9f, 0.999f, 1e-8f, 0.01f, 0.19f, 0.0199f, 0.7f, st);
    return std::fmax(relError(gp.get(), p), std::fmax(relError(gm.get(), m), relError(gv.get(), v)));
  });

  run(out, "nf4 dequantize (double-quantized)", 1e-6, [&] {
    const int bs = 64, n = bs * 600;
    std::vector<uint8_t> codes(n / 2);
    for (auto& c : codes) c = uint8_t(rng());
    std::vector<int8_t> ac(n / bs);
    for (auto& c : ac) c = int8_t(rng());
    auto sc = randn((n / bs + 255) / 256, 0.01f);
    std::vector<float> h(n);
    ref::nf4Dequantize(codes.data(), nullptr, ac.data(), sc.data(), 0.05f, bs, h.data(), n);
    Dev<uint8_t> gc(codes);
    Dev<int8_t> gac(ac);
    Dev<float> gsc(sc), go{std::vector<float>(n)};
    gpu::nf4Dequantize(gc.p, nullptr, gac.p, gsc.p, 0.05f, bs, go.p, nullptr, n, st);
    return relError(go.get(), h);
  });

  run(out, "embedding gather+scatter", 1e-6, [&] {
    const int V = 300, dim = 96, T = 77;
    auto tf = randn(size_t(V) * dim), dy = randn(size_t(T) * dim);
    std::vector<uint16_t> table(tf.size());
    for (size_t i = 0; i < tf.size(); i++) table[i] = f32ToBf16(tf[i]);
    std::vector<int32_t> ids(T);
    for (int t = 0; t < T; t++) ids[t] = (t * 131) % V;
    ids[5] = ids[6];  // a repeated id accumulates
    std::vector<float> out(size_t(T) * dim), dt(size_t(V) * dim, 0.0f);
    ref::embeddingGather(table.data(), ids.data(), out.data(), T, dim);
    ref::embeddingScatterAdd(dy.data(), ids.data(), dt.data(), T, dim);
    Dev<uint16_t> gt(table);
    Dev<int32_t> gi(ids);
    Dev<float> go(out), gdy(dy), gdt(std::vector<float>(dt.size(), 0.0f));
    gpu::embeddingGather(gt.p, gi.p, go.p, T, dim, st);
    gpu::embeddingScatterAdd(gdy.p, gi.p, gdt.p, T, dim, st);
    return std::fmax(relError(go.get(), out), relError(gdt.get(), dt));
  });

  if (lt) {
    for (int tr = 0; tr < 4; tr++) {
      const bool ta = tr & 1, tb = tr & 2;
      const std::string name = std::string("cuBLASLt bf16 gemm ") + (ta ? "T" : "N") + (tb ? "T" : "N");
      run(out, name.c_str(), 1e-2, [&] {
        const int M = 67, N = 96, K = 136;
        auto a = randn(size_t(M) * K), b = randn(size_t(K) * N), c0 = randn(size_t(M) * N);
        std::vector<uint16_t> ab(a.size()), bb(b.size());
        for (size_t i = 0; i < a.size(); i++) a[i] = bf16ToF32(ab[i] = f32ToBf16(a[i]));
        for (size_t i = 0; i < b.size(); i++) b[i] = bf16ToF32(bb[i] = f32ToBf16(b[i]));
        std::vector<float> c(c0.size());
        for (int i = 0; i < M; i++)
          for (int j = 0; j < N; j++) {
            double s = 0;
            for (int kk = 0; kk < K; kk++)
              s += double(ta ? a[size_t(kk) * M + i] : a[size_t(i) * K + kk]) *
                   (tb ? b[size_t(j) * K + kk] : b[size_t(kk) * N + j]);
            c[size_t(i) * N + j] = float(0.5 * s + 1.0 * c0[size_t(i) * N + j]);
          }
        Dev<uint16_t> ga(ab), gb(bb);
        Dev<float> gc(c0);
        Dev<uint8_t> ws(std::vector<uint8_t>(32 << 20));
        const std::string err = rt::gemmBf16(lt, ta, tb, M, N, K, ga.p, gb.p, gc.p, false, 0.5f, 1.0f, ws.p, ws.n, st);
        if (!err.empty()) throw Failure{err + " failed"};
        return relError(gc.get(), c);
      });
    }
  }
  return out;
}

}  // namespace sftc
