// Tensor views: a non-owning pointer plus a row-major shape. Storage always lives in an Arena.
#pragma once
#include <cstdint>
#include <initializer_list>
#include <string>
#include <vector>

#include "core/error.h"

namespace dsa {

using Shape = std::vector<int64_t>;

inline int64_t numel(const Shape& shape) {
  int64_t count = 1;
  for (int64_t extent : shape) count *= extent;
  return count;
}

inline std::string shape_str(const Shape& shape) {
  std::string text = "[";
  for (size_t i = 0; i < shape.size(); ++i) text += (i ? ", " : "") + std::to_string(shape[i]);
  return text + "]";
}

template <class T>
struct TensorView {
  T* data = nullptr;
  Shape shape;

  int64_t numel() const { return dsa::numel(shape); }
  int64_t size(size_t dim) const { return shape.at(dim); }
};

}  // namespace dsa
