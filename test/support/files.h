#pragma once

// Small file helpers for tests.

#include <fstream>
#include <sstream>
#include <string>

namespace gateway::testing {

// The whole content of `path`, byte for byte; empty if it cannot be read.
inline std::string ReadFile(const std::string& path) {
  std::ifstream file(path, std::ios::binary);
  std::ostringstream text;
  text << file.rdbuf();
  return text.str();
}

}  // namespace gateway::testing
