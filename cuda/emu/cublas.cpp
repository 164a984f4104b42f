// cuBLAS on the emulated device (cublas.h).
#include "cublas.h"

#include <cblas.h>

#include <algorithm>
#include <cstdio>
#include <string>

#include "core/error.h"
#include "memory.h"
#include "runtime.h"

namespace dsa::emu {

struct BlasHandle {
  cudaStream_t stream = nullptr;
  cublasMath_t math = CUBLAS_DEFAULT_MATH;
};

namespace {

// An operand that would fault on a GPU: reported as the runtime's last error (with the reason)
// and to stderr, since a cuBLAS status carries no message.
cublasStatus_t operand_fault(const std::string& why) {
  record_error(cudaErrorIllegalAddress, why);
  std::fprintf(stderr, "dsatrain emulated GPU: %s\n", why.c_str());
  return CUBLAS_STATUS_EXECUTION_FAILED;
}

// Whether the column-major rows x cols operand with leading dimension ld lies in one allocation.
bool operand_in_device(const void* data, int rows, int cols, int ld, size_t element_bytes) {
  if (rows == 0 || cols == 0) return true;
  const size_t elements = size_t(ld) * size_t(cols - 1) + size_t(rows);
  return memory::find_range(data, elements * element_bytes) != nullptr;
}

void say_tf32_once() {
  static bool said = false;
  if (said) return;
  said = true;
  std::fprintf(stderr, "dsatrain emulated GPU: TF32 tensor-core math requested; emulated in fp32\n");
}

cublasStatus_t sgemm(cublasOperation_t transa, cublasOperation_t transb, int m, int n, int k, float alpha,
                     const float* a, int lda, const float* b, int ldb, float beta, float* c, int ldc,
                     const char* api) {
  const bool ta = transa != CUBLAS_OP_N, tb = transb != CUBLAS_OP_N;
  const int a_rows = ta ? k : m, a_cols = ta ? m : k, b_rows = tb ? n : k, b_cols = tb ? k : n;
  if (m < 0 || n < 0 || k < 0 || lda < std::max(1, a_rows) || ldb < std::max(1, b_rows) || ldc < std::max(1, m))
    return CUBLAS_STATUS_INVALID_VALUE;
  if (m == 0 || n == 0) return CUBLAS_STATUS_SUCCESS;
  if (!operand_in_device(c, m, n, ldc, sizeof(float)))
    return operand_fault(cat(api, ": C (", m, " x ", n, ", ldc ", ldc, ") is not inside one device allocation"));
  if (k > 0 && !operand_in_device(a, a_rows, a_cols, lda, sizeof(float)))
    return operand_fault(cat(api, ": A (", a_rows, " x ", a_cols, ", lda ", lda, ") is not inside one device allocation"));
  if (k > 0 && !operand_in_device(b, b_rows, b_cols, ldb, sizeof(float)))
    return operand_fault(cat(api, ": B (", b_rows, " x ", b_cols, ", ldb ", ldb, ") is not inside one device allocation"));
  if (beta == 0.0f)  // cuBLAS does not read C then: NaN poison in it must not leak through 0 * NaN
    for (int j = 0; j < n; ++j) std::fill_n(c + size_t(j) * ldc, m, 0.0f);
  if (k == 0) {
    if (beta != 0.0f)
      for (int j = 0; j < n; ++j)
        for (int i = 0; i < m; ++i) c[size_t(j) * ldc + i] *= beta;
    return CUBLAS_STATUS_SUCCESS;
  }
  cblas_sgemm(CblasColMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans, m, n, k, alpha, a, lda, b,
              ldb, beta, c, ldc);
  return CUBLAS_STATUS_SUCCESS;
}

}  // namespace

cublasStatus_t cublasCreate(cublasHandle_t* handle) {
  *handle = new BlasHandle;
  return CUBLAS_STATUS_SUCCESS;
}

cublasStatus_t cublasDestroy(cublasHandle_t handle) {
  delete handle;
  return CUBLAS_STATUS_SUCCESS;
}

cublasStatus_t cublasSetStream(cublasHandle_t handle, cudaStream_t stream) {
  if (handle == nullptr) return CUBLAS_STATUS_NOT_INITIALIZED;
  if (!stream_is_valid(stream)) return CUBLAS_STATUS_INVALID_VALUE;
  handle->stream = stream;
  return CUBLAS_STATUS_SUCCESS;
}

cublasStatus_t cublasSetWorkspace(cublasHandle_t handle, void* workspace, size_t bytes) {
  if (handle == nullptr) return CUBLAS_STATUS_NOT_INITIALIZED;
  if (bytes > 0 && memory::find_range(workspace, bytes) == nullptr) return CUBLAS_STATUS_INVALID_VALUE;
  return CUBLAS_STATUS_SUCCESS;
}

cublasStatus_t cublasSetMathMode(cublasHandle_t handle, cublasMath_t mode) {
  if (handle == nullptr) return CUBLAS_STATUS_NOT_INITIALIZED;
  handle->math = mode;
  return CUBLAS_STATUS_SUCCESS;
}

cublasStatus_t cublasSgemm(cublasHandle_t handle, cublasOperation_t transa, cublasOperation_t transb, int m, int n,
                           int k, const float* alpha, const float* a, int lda, const float* b, int ldb,
                           const float* beta, float* c, int ldc) {
  if (handle == nullptr) return CUBLAS_STATUS_NOT_INITIALIZED;
  if (handle->math == CUBLAS_TF32_TENSOR_OP_MATH) say_tf32_once();
  return sgemm(transa, transb, m, n, k, *alpha, a, lda, b, ldb, *beta, c, ldc, "cublasSgemm");
}

cublasStatus_t cublasGemmEx(cublasHandle_t handle, cublasOperation_t transa, cublasOperation_t transb, int m, int n,
                            int k, const void* alpha, const void* a, cudaDataType a_type, int lda, const void* b,
                            cudaDataType b_type, int ldb, const void* beta, void* c, cudaDataType c_type, int ldc,
                            cublasComputeType_t compute, cublasGemmAlgo_t) {
  if (handle == nullptr) return CUBLAS_STATUS_NOT_INITIALIZED;
  if (a_type != CUDA_R_32F || b_type != CUDA_R_32F || c_type != CUDA_R_32F ||
      (compute != CUBLAS_COMPUTE_32F && compute != CUBLAS_COMPUTE_32F_FAST_TF32))
    return CUBLAS_STATUS_NOT_SUPPORTED;  // only fp32 operands are emulated
  if (compute == CUBLAS_COMPUTE_32F_FAST_TF32 || handle->math == CUBLAS_TF32_TENSOR_OP_MATH) say_tf32_once();
  return sgemm(transa, transb, m, n, k, *static_cast<const float*>(alpha), static_cast<const float*>(a), lda,
               static_cast<const float*>(b), ldb, *static_cast<const float*>(beta), static_cast<float*>(c), ldc,
               "cublasGemmEx");
}

}  // namespace dsa::emu
