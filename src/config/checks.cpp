// Derived defaults and the rules that span several keys.
#include "config/build.h"
#include "core/error.h"

namespace dsa::config {
namespace {

// Where to point an error about several keys: the first of them that a source set.
std::string origin_of_first_set(const RawConfig& raw, std::initializer_list<const char*> keys) {
  for (const char* key : keys) {
    if (raw.values.count(key)) return raw.values.at(key).origin;
  }
  return raw.source;
}

void resolve_and_check_model(ModelConfig& model, const RawConfig& raw) {
  if (model.n_kv_heads == 0) model.n_kv_heads = model.n_heads;
  DSA_CHECK(model.d_model % model.n_heads == 0,
            origin_of_first_set(raw, {"model.d_model", "model.n_heads"}),
            ": model.d_model = ", model.d_model,
            " must be a multiple of model.n_heads = ", model.n_heads);
  DSA_CHECK(model.head_dim() % 2 == 0, origin_of_first_set(raw, {"model.d_model", "model.n_heads"}),
            ": the head dim model.d_model / model.n_heads = ", model.d_model, " / ", model.n_heads,
            " = ", model.head_dim(), " must be even (RoPE rotates pairs)");
  DSA_CHECK(model.n_heads % model.n_kv_heads == 0,
            origin_of_first_set(raw, {"model.n_kv_heads", "model.n_heads"}),
            ": model.n_heads = ", model.n_heads,
            " must be a multiple of model.n_kv_heads = ", model.n_kv_heads);
}

void resolve_and_check_indexer(IndexerConfig& indexer, const RawConfig& raw) {
  const bool derived = indexer.rope_dims == -1;
  if (derived) indexer.rope_dims = indexer.dim / 2;
  DSA_CHECK(indexer.rope_dims % 2 == 0 && indexer.rope_dims <= indexer.dim,
            origin_of_first_set(raw, {"indexer.rope_dims", "indexer.dim"}),
            ": indexer.rope_dims = ", indexer.rope_dims, derived ? " (-1: indexer.dim / 2)" : "",
            " must be even and <= indexer.dim = ", indexer.dim);
}

void check_data(const DataConfig& data, const RawConfig& raw) {
  DSA_CHECK(data.source != "files" || !data.files.empty(),
            origin_of_first_set(raw, {"data.files", "data.source"}),
            ": data.files must list at least one text file when data.source is 'files'");
}

}  // namespace

void resolve_and_check(Config& config, const RawConfig& raw) {
  resolve_and_check_model(config.model, raw);
  resolve_and_check_indexer(config.indexer, raw);
  check_data(config.data, raw);
}

}  // namespace dsa::config
