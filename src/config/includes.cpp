// Config files and their `include:` fragments (docs/design.md §4).
#include <filesystem>
#include <optional>

#include "config/schema.h"
#include "config/sources.h"
#include "config/value.h"
#include "core/error.h"
#include "core/file_io.h"

namespace dsa::config {
namespace {

namespace fs = std::filesystem;

struct IncludeRef {
  std::string path;  // as written in the file
  std::string origin;
};

// The files being read, outermost first, to detect cycles.
struct IncludeChain {
  std::vector<std::string> names;
  std::vector<fs::path> identities;
};

struct IncludeKey {
  YAML::Node value;
  YAML::Mark mark;  // of the key
};

// The `include:` key of a document's root, if it has one.
std::optional<IncludeKey> find_include(const YAML::Node& root) {
  if (!root.IsMap()) return std::nullopt;
  for (const auto& entry : root) {
    if (entry.first.IsScalar() && entry.first.Scalar() == schema::kIncludeKey) {
      return IncludeKey{entry.second, entry.first.Mark()};
    }
  }
  return std::nullopt;
}

IncludeRef include_ref(const YAML::Node& item, const std::string& origin) {
  DSA_CHECK(item.IsScalar() && !item.Scalar().empty(), origin,
            ": include: expected a file path or a list of file paths, got ", schema::shown(item));
  return IncludeRef{item.Scalar(), origin};
}

std::vector<IncludeRef> include_refs(const YAML::Node& root, const Source& source) {
  const std::optional<IncludeKey> include = find_include(root);
  if (!include || include->value.IsNull()) return {};
  const std::string origin = source.at(include->mark);
  if (!include->value.IsSequence()) return {include_ref(include->value, origin)};
  std::vector<IncludeRef> refs;
  for (const YAML::Node& item : include->value) {
    refs.push_back(include_ref(item, item.Mark().is_null() ? origin : source.at(item.Mark())));
  }
  return refs;
}

fs::path identity_of(const std::string& path) {
  std::error_code error;
  const fs::path canonical = fs::weakly_canonical(path, error);
  return error ? fs::path(path).lexically_normal() : canonical;
}

void check_no_cycle(const std::string& path, const IncludeRef& ref, const IncludeChain& chain) {
  for (const fs::path& identity : chain.identities) {
    if (identity != identity_of(path)) continue;
    std::string names;
    for (const std::string& name : chain.names) names += name + " -> ";
    fail(ref.origin, ": include cycle: ", names, path);
  }
}

std::string read_included(const std::string& path, const IncludeRef& ref) {
  try {
    return read_file(path);
  } catch (const Error& error) {
    fail(ref.origin, ": include '", ref.path, "': ", error.what());
  }
}

void read_with_includes(const std::string& path, const std::string& text, IncludeChain& chain,
                        RawConfig& into) {
  const Source source{path};
  const YAML::Node root = parse_yaml(text, source);
  for (const IncludeRef& ref : include_refs(root, source)) {
    const std::string included = (fs::path(path).parent_path() / ref.path).lexically_normal();
    check_no_cycle(included, ref, chain);
    const std::string included_text = read_included(included, ref);
    chain.names.push_back(included);
    chain.identities.push_back(identity_of(included));
    read_with_includes(included, included_text, chain, into);
    chain.names.pop_back();
    chain.identities.pop_back();
  }
  merge_document(root, source, into);
}

}  // namespace

RawConfig read_config_file(const std::string& path) {
  const std::string text = read_file(path);  // "<path>: cannot open (...)"
  RawConfig raw{path, {}, std::nullopt};
  IncludeChain chain{{path}, {identity_of(path)}};
  read_with_includes(path, text, chain, raw);
  return raw;
}

RawConfig read_config_text(const std::string& text, const std::string& origin) {
  const Source source{origin};
  const YAML::Node root = parse_yaml(text, source);
  const std::optional<IncludeKey> include = find_include(root);
  DSA_CHECK(!include, source.at(include->mark), ": include is only allowed in config files (",
            origin, " is text, so its paths have no base directory)");
  RawConfig raw{origin, {}, std::nullopt};
  merge_document(root, source, raw);
  return raw;
}

}  // namespace dsa::config
