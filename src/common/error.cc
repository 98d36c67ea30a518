#include "common/error.h"

namespace xvgpu {

void rethrow_with_context(const std::string& context) {
  try {
    throw;
  } catch (const SystemError& e) {
    throw SystemError(e.err(), context + ": " + e.context());
  } catch (const std::exception& e) {
    throw Error(context + ": " + e.what());
  }
}

}  // namespace xvgpu
