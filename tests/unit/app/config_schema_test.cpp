// The configuration's JSON Schema (sbc/app/config_schema.json, `sbc config-schema`) against
// the readers that enforce it: a document with every key of the schema must load, every mapping
// the readers check must have the schema's keys and no others, and every bound, enum and boolean
// of the schema must be the reader's. The schema is what the Helm chart embeds, so when a reader
// gains a key or changes a bound, this test fails until the schema says the same.

#include <yaml-cpp/yaml.h>
#include <catch2/catch.hpp>

#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <functional>
#include <set>
#include <string>
#include <variant>
#include <vector>

#include "policy/credentials.hpp"
#include "sbc/app/config.hpp"

using namespace sbc::app;

namespace {

// A place in the document: map keys and list indexes.
using Step = std::variant<std::string, std::size_t>;
using Path = std::vector<Step>;

// "listeners[0].tls" (as the readers' errors name keys); `general` writes "[]" for indexes (as
// ConfigKeyLog does).
std::string path_text(const Path& path, bool general = false) {
  std::string out;
  for (const Step& step : path) {
    if (const auto* key = std::get_if<std::string>(&step)) {
      if (!out.empty()) out += '.';
      out += *key;
    } else {
      out += '[';
      if (!general) out += std::to_string(std::get<std::size_t>(step));
      out += ']';
    }
  }
  return out;
}

YAML::Node schema() {
  static const YAML::Node root = YAML::Load(std::string(config_schema_text()));
  return root;
}

// A value the schema allows at `node`: its first example, else built from its shape (objects
// with every property, lists with one item, the smallest number, the first enum value).
YAML::Node example(const YAML::Node& node, const std::string& where) {
  if (node["examples"]) return YAML::Clone(node["examples"][0]);
  if (node["enum"]) return YAML::Clone(node["enum"][0]);
  const std::string type = node["type"] ? node["type"].as<std::string>() : "";
  if (type == "object") {
    YAML::Node out(YAML::NodeType::Map);
    for (const auto& p : node["properties"])
      out[p.first.as<std::string>()] = example(p.second, where + "." + p.first.as<std::string>());
    return out;
  }
  if (type == "array") {
    YAML::Node out(YAML::NodeType::Sequence);
    out.push_back(example(node["items"], where + "[]"));
    return out;
  }
  if (type == "integer") return YAML::Node(node["minimum"].as<long long>());
  if (type == "boolean") return YAML::Node(true);
  FAIL("the schema gives no example for " << where << " (add \"examples\")");
  return {};
}

YAML::Node& at(YAML::Node& root, const Path& path, std::vector<YAML::Node>& hold) {
  hold.clear();
  hold.push_back(root);
  for (const Step& step : path) {
    if (const auto* key = std::get_if<std::string>(&step))
      hold.push_back(hold.back()[*key]);
    else
      hold.push_back(hold.back()[std::get<std::size_t>(step)]);
  }
  return hold.back();
}

struct Fixture {
  std::string token_key_file = "/tmp/sbc-schema-test-keys-" + std::to_string(::getpid());
  std::string credentials_file = "/tmp/sbc-schema-test-users-" + std::to_string(::getpid());
  std::string admin_token_file = "/tmp/sbc-schema-test-token-" + std::to_string(::getpid());
  std::string redis_password_file = "/tmp/sbc-schema-test-redis-" + std::to_string(::getpid());
  YAML::Node full;

  Fixture() {
    std::ofstream(token_key_file) << "7:00112233445566778899aabbccddeeff\n";
    std::ofstream(admin_token_file) << "0123456789abcdef0123\n";
    std::ofstream(redis_password_file) << "redis-secret\n";
    std::ofstream(credentials_file)
        << sbc::policy::Credentials::line("alice", "example.com",
                                          sbc::crypto::DigestAlgorithm::Sha256, "secret")
        << '\n';
    full = example(schema(), "");
    // Where one key constrains another, the example takes the combination that is valid.
    full["listeners"][0]["transport"] = "tls";  // only a tls listener takes `tls`
    full["capture"]["what"] = "all";            // capture.listeners needs what: all
    full["capture"]["listeners"][0] = full["listeners"][0]["port"].as<int>();
    full["relay"]["token_key_file"] = token_key_file;  // read at load
    full["policy"]["auth"]["realm"] = "example.com";
    full["policy"]["auth"]["credentials_file"] = credentials_file;    // read with auth in the chain
    full["admin"]["http"]["token_file"] = admin_token_file;           // read at load
    full["cluster"]["redis"]["password_file"] = redis_password_file;  // read at load
    full["metrics"]["port"] = 9460;  // admin.http is never on the metrics port
    full["admin"]["http"]["port"] = 9461;
  }
  ~Fixture() {
    std::remove(token_key_file.c_str());
    std::remove(credentials_file.c_str());
    std::remove(admin_token_file.c_str());
    std::remove(redis_password_file.c_str());
  }

  // The error of loading the full document with `value` at `path` ("" when it loads).
  std::string error_with(const Path& path, const YAML::Node& value) const {
    YAML::Node doc = YAML::Clone(full);
    std::vector<YAML::Node> hold;
    at(doc, path, hold) = YAML::Clone(value);
    try {
      parse_config(YAML::Dump(doc), "schema.yaml");
    } catch (const ConfigError& e) {
      return e.what();
    }
    return "";
  }
};

// Calls `visit(path, node)` for every schema node below `node`, lists' items at index 0.
void walk(const YAML::Node& node, Path& path,
          const std::function<void(const Path&, const YAML::Node&)>& visit) {
  visit(path, node);
  if (node["properties"]) {
    for (const auto& p : node["properties"]) {
      path.emplace_back(p.first.as<std::string>());
      walk(p.second, path, visit);
      path.pop_back();
    }
  }
  if (node["items"]) {
    path.emplace_back(std::size_t{0});
    walk(node["items"], path, visit);
    path.pop_back();
  }
}

// The key a reader's error names for the value at `path`: list items of scalars are named by
// their list ("capture.listeners"), every other value by its full path.
std::string error_key(const Path& path) {
  if (!path.empty() && std::holds_alternative<std::size_t>(path.back()))
    return path_text(Path(path.begin(), path.end() - 1));
  return path_text(path);
}

// " KEY: SUFFIX", the start of a reader's error about KEY (appended piecewise: GCC 12 warns
// falsely about "literal" + std::string under -O3).
std::string about(const std::string& key, const char* suffix) {
  std::string out(" ");
  out.append(key).append(": ").append(suffix);
  return out;
}

}  // namespace

TEST_CASE("the configuration schema is JSON Schema draft-07 with closed objects", "[config]") {
  const YAML::Node root = schema();
  REQUIRE(root["$schema"].as<std::string>() == "http://json-schema.org/draft-07/schema#");
  Path path;
  walk(root, path, [](const Path& p, const YAML::Node& node) {
    if (node["properties"]) {
      INFO(path_text(p));
      CHECK(node["type"].as<std::string>() == "object");
      CHECK(node["additionalProperties"].as<bool>() == false);
    }
    if (!p.empty()) {
      INFO(path_text(p));
      CHECK((node["description"] || std::holds_alternative<std::size_t>(p.back())));
    }
  });
}

TEST_CASE("the readers know exactly the schema's keys, in every mapping", "[config]") {
  const Fixture f;
  ConfigKeyLog log;
  REQUIRE_NOTHROW(parse_config(YAML::Dump(f.full), "schema.yaml", &log));

  std::set<std::string> schema_mappings;
  Path path;
  walk(schema(), path, [&](const Path& p, const YAML::Node& node) {
    if (node["properties"]) schema_mappings.insert(path_text(p, true));
  });
  std::set<std::string> read_mappings;
  for (const auto& [where, known] : log.mappings) {
    read_mappings.insert(where);
    INFO("mapping " << (where.empty() ? "(top level)" : where));
    YAML::Node node = schema();
    std::string rest = where;
    while (!rest.empty()) {
      const std::string part = rest.substr(0, rest.find('.'));
      rest = part.size() == rest.size() ? "" : rest.substr(part.size() + 1);
      const bool item = part.ends_with("[]");
      // reset(), not =: assigning a yaml-cpp node writes into the tree it refers to.
      node.reset(node["properties"][item ? part.substr(0, part.size() - 2) : part]);
      REQUIRE(node.IsDefined());
      if (item) node.reset(node["items"]);
    }
    std::set<std::string> in_schema;
    for (const auto& p : node["properties"]) in_schema.insert(p.first.as<std::string>());
    CHECK(std::set<std::string>(known.begin(), known.end()) == in_schema);
  }
  // Every mapping of the schema was checked by a reader (none is accepted unread).
  CHECK(read_mappings == schema_mappings);
}

TEST_CASE("the readers enforce the schema's bounds, enums and booleans", "[config]") {
  const Fixture f;
  REQUIRE(f.error_with({}, f.full).empty());
  std::size_t checked = 0;
  Path path;
  walk(schema(), path, [&](const Path& p, const YAML::Node& node) {
    const std::string key = error_key(p);
    const std::string type = node["type"] ? node["type"].as<std::string>() : "";
    INFO(path_text(p));
    if (type == "integer") {
      const auto low = node["minimum"].as<long long>();
      const auto high = node["maximum"].as<long long>();
      CHECK_THAT(f.error_with(p, YAML::Node(high + 1)),
                 Catch::Contains(about(key, "must be between")));
      if (low > 0)
        CHECK_THAT(f.error_with(p, YAML::Node(low - 1)),
                   Catch::Contains(about(key, "must be between")));
      // At the schema's bounds the reader may refuse the value for another key's sake (t2 below
      // t1), never for its range.
      CHECK_THAT(f.error_with(p, YAML::Node(high)), !Catch::Contains("must be between"));
      CHECK_THAT(f.error_with(p, YAML::Node(low)), !Catch::Contains("must be between"));
      ++checked;
    } else if (node["enum"] || type == "boolean") {
      CHECK_THAT(f.error_with(p, YAML::Node("bogus")), Catch::Contains(about(key, "")));
      // Every value the schema lists is one the reader takes.
      for (const auto& value : node["enum"])
        CHECK_THAT(f.error_with(p, value), !Catch::Contains(about(key, "")));
      ++checked;
    }
  });
  CHECK(checked > 100);
}
