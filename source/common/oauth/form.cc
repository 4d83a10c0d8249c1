#include "source/common/oauth/form.h"

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"

namespace gateway::oauth {
namespace {

int HexValue(char c) {
  if (c >= '0' && c <= '9') {
    return c - '0';
  }
  if (c >= 'a' && c <= 'f') {
    return c - 'a' + 10;
  }
  if (c >= 'A' && c <= 'F') {
    return c - 'A' + 10;
  }
  return -1;
}

}  // namespace

bool FormDecode(absl::string_view text, std::string* out) {
  out->clear();
  out->reserve(text.size());
  for (size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (c == '+') {
      out->push_back(' ');
    } else if (c == '%') {
      if (i + 2 >= text.size()) {
        return false;
      }
      const int high = HexValue(text[i + 1]);
      const int low = HexValue(text[i + 2]);
      if (high < 0 || low < 0) {
        return false;
      }
      out->push_back(static_cast<char>(high * 16 + low));
      i += 2;
    } else {
      out->push_back(c);
    }
  }
  return true;
}

std::string FormEncode(absl::string_view text) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  out.reserve(text.size() * 3);
  for (unsigned char c : text) {
    if (absl::ascii_isalnum(c) || c == '-' || c == '.' || c == '_' || c == '~') {
      out.push_back(static_cast<char>(c));
    } else {
      out.push_back('%');
      out.push_back(kHex[c >> 4]);
      out.push_back(kHex[c & 15]);
    }
  }
  return out;
}

absl::StatusOr<Form> Form::Parse(absl::string_view text) {
  Form form;
  for (absl::string_view pair : absl::StrSplit(text, '&', absl::SkipEmpty())) {
    const size_t equals = pair.find('=');
    std::string name;
    std::string value;
    if (!FormDecode(pair.substr(0, equals), &name) ||
        (equals != absl::string_view::npos && !FormDecode(pair.substr(equals + 1), &value))) {
      return absl::InvalidArgumentError("malformed percent-encoding in the parameters");
    }
    if (!form.values_.emplace(name, std::move(value)).second) {
      return absl::InvalidArgumentError(
          absl::StrCat("the parameter \"", name, "\" appears more than once"));
    }
  }
  return form;
}

const std::string& Form::Get(absl::string_view name) const {
  static const std::string* const kEmpty = new std::string();
  auto found = values_.find(name);
  return found == values_.end() ? *kEmpty : found->second;
}

std::string EncodeForm(const std::vector<std::pair<std::string, std::string>>& params) {
  std::string out;
  for (const auto& [name, value] : params) {
    if (!out.empty()) {
      out.push_back('&');
    }
    absl::StrAppend(&out, FormEncode(name), "=", FormEncode(value));
  }
  return out;
}

std::string AppendQuery(absl::string_view url,
                        const std::vector<std::pair<std::string, std::string>>& params) {
  const std::string query = EncodeForm(params);
  if (query.empty()) {
    return std::string(url);
  }
  const char separator = url.find('?') == absl::string_view::npos ? '?' : '&';
  return absl::StrCat(url, std::string(1, separator), query);
}

}  // namespace gateway::oauth
