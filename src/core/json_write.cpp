// The JSON writer (core/json.h): compact or indented, numbers in their shortest round-trip text.
#include "core/json.h"

#include <string>

namespace dsa::json {

namespace {

// ---- writer ---------------------------------------------------------------------------------

void dump_string(const std::string& text, std::string& out) {
  out += '"';
  for (const char c : text) {
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      case '\b': out += "\\b"; break;
      case '\f': out += "\\f"; break;
      default:
        if (static_cast<unsigned char>(c) < 0x20) {
          const char* digits = "0123456789abcdef";
          out += "\\u00";
          out += digits[(c >> 4) & 15];
          out += digits[c & 15];
        } else {
          out += c;
        }
    }
  }
  out += '"';
}

class Writer {
 public:
  explicit Writer(int indent) : indent_(indent) {}

  void write(const Value& value, int level, std::string& out) const {
    switch (value.kind()) {
      case Kind::kNull: out += "null"; return;
      case Kind::kBool: out += value.as_bool() ? "true" : "false"; return;
      case Kind::kNumber: out += value.number_text(); return;
      case Kind::kString: dump_string(value.as_string(), out); return;
      case Kind::kArray: write_array(value, level, out); return;
      case Kind::kObject: write_object(value, level, out); return;
    }
  }

 private:
  void newline(int level, std::string& out) const {
    if (indent_ < 0) return;
    out += '\n';
    out.append(static_cast<size_t>(level * indent_), ' ');
  }

  void write_array(const Value& array, int level, std::string& out) const {
    const auto& items = array.items();
    out += '[';
    for (size_t i = 0; i < items.size(); ++i) {
      if (i) out += ',';
      newline(level + 1, out);
      write(items[i], level + 1, out);
    }
    if (!items.empty()) newline(level, out);
    out += ']';
  }

  void write_object(const Value& object, int level, std::string& out) const {
    const auto& members = object.members();
    out += '{';
    for (size_t i = 0; i < members.size(); ++i) {
      if (i) out += ',';
      newline(level + 1, out);
      dump_string(members[i].first, out);
      out += indent_ < 0 ? ":" : ": ";
      write(members[i].second, level + 1, out);
    }
    if (!members.empty()) newline(level, out);
    out += '}';
  }

  int indent_;
};

}  // namespace

std::string dump(const Value& value, int indent) {
  std::string out;
  Writer(indent).write(value, 0, out);
  return out;
}

}  // namespace dsa::json
