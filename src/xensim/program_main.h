// main() of the xensim programs: an exception that escapes run() becomes one line on stderr,
// named after the program, and exit status 1.
#pragma once

#include <cstdio>
#include <exception>

namespace xvgpu::xensim {

template <typename Run>
int program_main(int argc, char** argv, Run run) noexcept {
  try {
    return run(argc, argv);
  } catch (const std::exception& e) {
    (void)std::fprintf(stderr, "%s: %s\n", argc > 0 ? argv[0] : "xensim", e.what());
    return 1;
  }
}

}  // namespace xvgpu::xensim
