// Timings of the parts of a Qwen2.5-0.5B step (d 896, ffn 4864, 14/2 heads of 64, vocab 151936,
// 8 x 1024 tokens) on the GPU: each GEMM through cuBLASLt and each kernel, with CUDA events.
#include "bench.h"

#include <cstdlib>

#include <cuda_runtime.h>

#include <functional>

#include "kernels.h"

namespace sftc {
namespace {

struct Failure {
  std::string what;
};
void check(cudaError_t e, const char* what) {
  if (e != cudaSuccess) throw Failure{std::string(what) + ": " + cudaGetErrorString(e)};
}

// Device scratch, freed with the scope; filled with small values (bf16 1/64 or f32 0.01).
struct Buf {
  void* p = nullptr;
  explicit Buf(size_t bytes) {
    check(cudaMalloc(&p, bytes), "cudaMalloc");
    check(cudaMemset(p, 0x3c, bytes), "cudaMemset");
  }
  ~Buf() { cudaFree(p); }
  template <typename T>
  T* as() const {
    return static_cast<T*>(p);
  }
};

void timeIt(std::vector<BenchResult>& out, const std::string& name, double flops, int reps,
          const std::function<void()>& body) {
  BenchResult r{name, 0, 0, ""};
  try {
    cudaEvent_t a, b;
    check(cudaEventCreate(&a), "cudaEventCreate");
    check(cudaEventCreate(&b), "cudaEventCreate");
    body();  // warm-up (cuBLASLt's heuristics, module loading)
    check(cudaDeviceSynchronize(), name.c_str());
    check(cudaEventRecord(a), "cudaEventRecord");
    for (int i = 0; i < reps; i++) body();
    check(cudaEventRecord(b), "cudaEventRecord");
    check(cudaEventSynchronize(b), name.c_str());
    float ms = 0;
    cudaEventElapsedTime(&ms, a, b);
    r.ms = ms / reps;
    r.tflops = flops > 0 ? flops / (r.ms * 1e-3) / 1e12 : 0;
    cudaEventDestroy(a);
    cudaEventDestroy(b);
  } catch (const Failure& f) {
    r.error = f.what;
    cudaGetLastError();
  }
  out.push_back(r);
}

}  // namespace

std::vector<BenchResult> benchParts(rt::Lt* lt) {
  std::vector<BenchResult> out;
  const int T = 8 * 1024, d = 896, ffn = 4864, H = 14, KV = 2, hd = 64, V = 151936, chunk = 1024;
  cudaStream_t st = nullptr;
  try {
    if (lt) {
      Buf ws(64 << 20);
      Buf x(size_t(T) * ffn * 2), w(size_t(V) * d * 2), y(size_t(chunk) * V * 4 + size_t(T) * 2 * ffn * 4);
      struct Shape {
        const char* name;
        int M, N, K;
        bool ta, tb;
      };
      // Forward y = x W^T (tb), input gradient dx = dy W, weight gradient dW = dy^T x (ta).
      const Shape shapes[] = {
          {"gemm q+k+v   fwd [8192x896]x[896x1152]^T", T, d + 2 * KV * hd, d, false, true},
          {"gemm o       fwd [8192x896]x[896x896]^T", T, d, d, false, true},
          {"gemm gate+up fwd [8192x896]x[896x9728]^T", T, 2 * ffn, d, false, true},
          {"gemm down    fwd [8192x4864]x[4864x896]^T", T, d, ffn, false, true},
          {"gemm down    dx  [8192x896]x[896x4864]", T, ffn, d, false, false},
          {"gemm down    dW  [896x8192]x[8192x4864]", d, ffn, T, true, false},
          {"gemm head    fwd [1024x896]x[896x151936]^T", chunk, V, d, false, true},
      };
      for (const auto& s : shapes)
        timeIt(out, s.name, 2.0 * s.M * s.N * s.K, 5, [&] {
          const std::string e =
              rt::gemmBf16(lt, s.ta, s.tb, s.M, s.N, s.K, x.p, w.p, y.p, false, 1.0f, 0.0f, ws.p, 64 << 20, st);
          if (!e.empty()) throw Failure{e + " failed"};
        });
    }
    {
      Buf a(size_t(T) * ffn * 4), b(size_t(T) * ffn * 4), c(size_t(T) * ffn * 4), e(size_t(T) * ffn * 4),
          f(size_t(T) * ffn * 4), r(size_t(T) * 4), wv(size_t(ffn) * 4);
      timeIt(out, "rmsnorm fwd [8192x896]", 0, 10,
           [&] { gpu::rmsNormForward(a.as<float>(), wv.as<float>(), b.as<float>(), r.as<float>(), T, d, 1e-6f, st); });
      timeIt(out, "rmsnorm bwd [8192x896]", 0, 10, [&] {
        gpu::rmsNormBackward(a.as<float>(), b.as<float>(), wv.as<float>(), r.as<float>(), c.as<float>(),
                             e.as<float>(), T, d, st);
      });
      timeIt(out, "swiglu fwd [8192x4864]", 0, 10,
           [&] { gpu::swigluForward(a.as<float>(), b.as<float>(), c.as<float>(), int64_t(T) * ffn, st); });
      timeIt(out, "swiglu bwd [8192x4864]", 0, 10, [&] {
        gpu::swigluBackward(a.as<float>(), b.as<float>(), c.as<float>(), e.as<float>(), f.as<float>(),
                            int64_t(T) * ffn, st);
      });
      timeIt(out, "rope q [8192x14x64]", 0, 10,
           [&] { gpu::rope(a.as<float>(), b.as<float>(), c.as<float>(), e.as<float>(), T, H, hd, false, st); });
      {
        Buf logits(size_t(chunk) * V * 4), targets(size_t(chunk) * 4), loss(size_t(chunk) * 4);
        check(cudaMemset(targets.p, 0, size_t(chunk) * 4), "cudaMemset");  // target id 0: in range
        timeIt(out, "cross-entropy [1024x151936]", 0, 5, [&] {
          gpu::crossEntropy(logits.as<float>(), targets.as<int32_t>(), chunk, V, 1.0f, loss.as<float>(),
                            logits.as<float>(), st);
        });
      }
      timeIt(out, "adamw 20M values", 0, 5, [&] {
        gpu::adamw(a.as<float>(), b.as<float>(), c.as<float>(), e.as<float>(), 20 << 20, 1e-4f, 0.9f, 0.999f, 1e-8f,
                   0.0f, 0.1f, 0.001f, 1.0f, st);
      });
      timeIt(out, "nf4 dequantize 4.4M values (one down_proj) to bf16", 0, 10, [&] {
        gpu::nf4Dequantize(a.as<uint8_t>(), b.as<float>(), nullptr, nullptr, 0.0f, 64, nullptr, c.as<uint16_t>(),
                           int64_t(ffn) * d, st);
      });
    }
    {
      // Causal attention of 8 rows x 1024, 14 query heads over 2 kv heads of 64 (4 flops per score and value).
      const gpu::AttnDims dims{8, 1024, 1024, H, KV, hd};
      const double flops = 4.0 * 8 * H * (1024.0 * 1025 / 2) * hd;
      // Sized for the wider of the two shapes below (12 x 128 query, 2 x 128 key values per token).
      const size_t qBytes = size_t(T) * 12 * 128 * 4, kBytes = size_t(T) * KV * 128 * 4;
      Buf q(qBytes), k(kBytes), v(kBytes), o(qBytes), l(size_t(8) * H * 1024 * 4), dq(qBytes), dk(kBytes), dv(kBytes);
      check(cudaMemset(q.p, 0, qBytes), "cudaMemset");
      timeIt(out, "attention fwd 8x1024, 14/2 heads of 64", flops, 2, [&] {
        gpu::attentionForward(q.as<float>(), k.as<float>(), v.as<float>(), nullptr, o.as<float>(), l.as<float>(),
                              dims, 0.125f, st);
      });
      timeIt(out, "attention bwd 8x1024, 14/2 heads of 64", 2.5 * flops, 2, [&] {
        gpu::attentionBackward(q.as<float>(), k.as<float>(), v.as<float>(), nullptr, o.as<float>(), l.as<float>(),
                               o.as<float>(), dq.as<float>(), dk.as<float>(), dv.as<float>(), dims, 0.125f, st);
      });
      setenv("SFTKIT_CUDA_ATTENTION", "tiled", 1);  // the CUDA-core kernels at the same shape, for comparison
      timeIt(out, "attention fwd 8x1024, 14/2 of 64, tiled CUDA cores", flops, 2, [&] {
        gpu::attentionForward(q.as<float>(), k.as<float>(), v.as<float>(), nullptr, o.as<float>(), l.as<float>(),
                              dims, 0.125f, st);
      });
      timeIt(out, "attention bwd 8x1024, 14/2 of 64, tiled CUDA cores", 2.5 * flops, 2, [&] {
        gpu::attentionBackward(q.as<float>(), k.as<float>(), v.as<float>(), nullptr, o.as<float>(), l.as<float>(),
                               o.as<float>(), dq.as<float>(), dk.as<float>(), dv.as<float>(), dims, 0.125f, st);
      });
      unsetenv("SFTKIT_CUDA_ATTENTION");
      // Qwen2.5-1.5B's and Llama-3's head dim: 12/2 heads of 128.
      const gpu::AttnDims wide{8, 1024, 1024, 12, 2, 128};
      const double wideFlops = 4.0 * 8 * 12 * (1024.0 * 1025 / 2) * 128;
      timeIt(out, "attention fwd 8x1024, 12/2 heads of 128", wideFlops, 2, [&] {
        gpu::attentionForward(q.as<float>(), k.as<float>(), v.as<float>(), nullptr, o.as<float>(), l.as<float>(),
                              wide, 0.088f, st);
      });
      timeIt(out, "attention bwd 8x1024, 12/2 heads of 128", 2.5 * wideFlops, 2, [&] {
        gpu::attentionBackward(q.as<float>(), k.as<float>(), v.as<float>(), nullptr, o.as<float>(), l.as<float>(),
                               o.as<float>(), dq.as<float>(), dk.as<float>(), dv.as<float>(), wide, 0.088f, st);
      });
    }
  } catch (const Failure& f) {
    out.push_back({"allocation", 0, 0, f.what});
  }
  return out;
}

}  // namespace sftc
