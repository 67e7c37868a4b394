#pragma once
// Access to the RFC 4475 / RFC 5118 conformance corpus in ../shared/corpus (see its README).

#include <cstdlib>
#include <fstream>
#include <iterator>
#include <sstream>
#include <string>
#include <vector>

namespace sbc::test {

inline std::string corpus_dir() {
  if (const char* env = std::getenv("SBC_CORPUS_DIR")) return env;
  return SBC_CORPUS_DIR;
}

inline std::string read_binary(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error("cannot read " + path);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

struct CorpusRow {
  std::string set;  // rfc4475 or rfc5118
  std::string name;
  std::string expect;
  std::string handling;
};

// Rows of <set>/EXPECTED.tsv, located by column name in its header line.
inline std::vector<CorpusRow> read_expected(const std::string& set) {
  std::istringstream text(read_binary(corpus_dir() + "/" + set + "/EXPECTED.tsv"));
  std::string line;
  auto split = [](const std::string& l) {
    std::vector<std::string> cols;
    std::size_t pos = 0;
    while (true) {
      const std::size_t tab = l.find('\t', pos);
      cols.push_back(l.substr(pos, tab == std::string::npos ? std::string::npos : tab - pos));
      if (tab == std::string::npos) return cols;
      pos = tab + 1;
    }
  };
  std::getline(text, line);
  const auto header = split(line);
  auto column = [&header](const std::string& name) {
    for (std::size_t i = 0; i < header.size(); ++i)
      if (header[i] == name) return i;
    throw std::runtime_error("EXPECTED.tsv has no column " + name);
  };
  const std::size_t name_col = column("name"), expect_col = column("expect"),
                    handling_col = column("expected_handling");
  std::vector<CorpusRow> rows;
  while (std::getline(text, line)) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.empty()) continue;
    const auto cols = split(line);
    rows.push_back({set, cols.at(name_col), cols.at(expect_col), cols.at(handling_col)});
  }
  return rows;
}

}  // namespace sbc::test
