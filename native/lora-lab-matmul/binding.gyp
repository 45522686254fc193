# node-gyp build of the native sgemm addon and the fused kernels' loops (fused.cc, float32 op for op: no FMA
# contraction). Plain node_api.h (N-API v8), no dependencies. The kernel file compiles for
# any target; AVX2+FMA code is compiled per-function (__attribute__((target))) and chosen at run time.
{
  "targets": [
    {
      "target_name": "lora_lab_matmul",
      "sources": ["src/matmul.cc", "src/fused.cc"],
      "defines": ["NAPI_VERSION=8"],
      "cflags_cc!": ["-fno-exceptions"],
      "cflags_cc": ["-O3", "-std=c++17", "-fno-math-errno", "-ffp-contract=off"],
      "cflags": ["-O3"],
      "ldflags": ["-pthread"],
      "xcode_settings": { "OTHER_CPLUSPLUSFLAGS": ["-O3", "-std=c++17", "-ffp-contract=off"] }
    }
  ]
}
