#include <iostream>
#include <string_view>
#include <vector>

#include "sbc/app/commands.hpp"

int main(int argc, char** argv) {
  std::vector<std::string_view> args(argv + 1, argv + argc);
  return sbc::app::main_command(args, std::cout, std::cerr);
}
