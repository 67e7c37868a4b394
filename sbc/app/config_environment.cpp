// ${NAME} in configuration values: Kubernetes passes a pod's own addresses (status.podIP,
// status.hostIP) and Secrets to a container as environment variables, and the chart's one
// ConfigMap serves every pod, so `advertise: ${POD_IP}` is expanded by each SBC at load (and at
// every reload). Values only, never keys: the set of keys stays what the file says.

#include <cstdlib>
#include <string>

#include "sbc/app/config_reader.hpp"

namespace sbc::app {
namespace {

bool is_name_start(char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || c == '_';
}
bool is_name_char(char c) {
  return is_name_start(c) || (c >= '0' && c <= '9');
}

// The text with every ${NAME} replaced by the variable's value; "$${" stands for a literal "${".
std::string expand(const ConfigReader& r, const YAML::Node& node, const std::string& key,
                   const std::string& text) {
  std::string out;
  std::size_t i = 0;
  while (i < text.size()) {
    const std::size_t dollar = text.find('$', i);
    if (dollar == std::string::npos) break;
    out.append(text, i, dollar - i);
    if (text.compare(dollar, 3, "$${") == 0) {
      out += "${";
      i = dollar + 3;
      continue;
    }
    if (text.compare(dollar, 2, "${") != 0) {
      out += '$';
      i = dollar + 1;
      continue;
    }
    const std::size_t close = text.find('}', dollar + 2);
    if (close == std::string::npos)
      r.fail(node, key, "\"${\" without its \"}\" (write \"$${\" for a literal \"${\")");
    const std::string name = text.substr(dollar + 2, close - dollar - 2);
    bool valid = !name.empty() && is_name_start(name.front());
    for (char c : name) valid = valid && is_name_char(c);
    if (!valid)
      r.fail(node, key,
             "\"${" + name + "}\" is not an environment variable name ([A-Za-z_][A-Za-z0-9_]*)");
    const char* value = std::getenv(name.c_str());
    if (value == nullptr) r.fail(node, key, "environment variable " + name + " is not set");
    out += value;
    i = close + 1;
  }
  if (i < text.size()) out.append(text, i, std::string::npos);
  return out;
}

void expand_node(const ConfigReader& r, YAML::Node node, const std::string& key) {
  if (node.IsScalar()) {
    const std::string text = node.Scalar();
    if (text.find('$') != std::string::npos) node = expand(r, node, key, text);
  } else if (node.IsSequence()) {
    for (std::size_t i = 0; i < node.size(); ++i)
      expand_node(r, node[i], key + "[" + std::to_string(i) + "]");
  } else if (node.IsMap()) {
    for (auto item : node) {
      std::string path = key;
      if (!path.empty()) path += '.';
      path += item.first.IsScalar() ? item.first.Scalar() : "?";
      expand_node(r, item.second, path);
    }
  }
}

}  // namespace

void expand_environment(const ConfigReader& r, YAML::Node& root) {
  expand_node(r, root, "");
}

}  // namespace sbc::app
