// TEMPORARY: placeholders so the CUDA twin links while its kernels are being written. Every
// function here throws; this file is deleted as each op family lands in its own .cu file.
#include "core/error.h"
#include "cuda_ops.h"

namespace dsa::cuda {

#define DSA_PENDING(name) fail("CUDA op ", name, " is not implemented yet")

void embedding_forward(const Context&, float*, const int32_t*, const float*, int64_t, int64_t, int64_t) { DSA_PENDING("embedding_forward"); }
void embedding_backward(const Context&, float*, const float*, const int32_t*, int64_t, int64_t, int64_t) { DSA_PENDING("embedding_backward"); }
void rmsnorm_forward(const Context&, float*, float*, const float*, const float*, int64_t, int64_t, double) { DSA_PENDING("rmsnorm_forward"); }
void rmsnorm_backward(const Context&, float*, float*, const float*, const float*, const float*, const float*, int64_t, int64_t) { DSA_PENDING("rmsnorm_backward"); }
void rope_forward(const Context&, float*, const float*, const float*, int64_t, int64_t, int64_t, int64_t, int64_t, int64_t) { DSA_PENDING("rope_forward"); }
void rope_backward(const Context&, float*, const float*, const float*, int64_t, int64_t, int64_t, int64_t, int64_t, int64_t) { DSA_PENDING("rope_backward"); }
void swiglu_forward(const Context&, float*, const float*, int64_t, int64_t) { DSA_PENDING("swiglu_forward"); }
void swiglu_backward(const Context&, float*, const float*, const float*, int64_t, int64_t) { DSA_PENDING("swiglu_backward"); }
void residual_forward(const Context&, float*, const float*, const float*, int64_t) { DSA_PENDING("residual_forward"); }
void residual_backward(const Context&, float*, float*, const float*, int64_t) { DSA_PENDING("residual_backward"); }
void cross_entropy(const Context&, float*, float*, int32_t*, const int32_t*, int64_t, int64_t, float) { DSA_PENDING("cross_entropy"); }
void adamw_update(const Context&, float*, const float*, float*, float*, int64_t, const ops::AdamWHyper&) { DSA_PENDING("adamw_update"); }
double sum_squares(const Context&, const float*, int64_t) { DSA_PENDING("sum_squares"); }
size_t rmsnorm_workspace(const ops::WorkspaceQuery&) { return 0; }
size_t sum_squares_workspace(const ops::WorkspaceQuery&) { return 0; }

}  // namespace dsa::cuda
