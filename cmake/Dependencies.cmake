# Every dependency is a Debian 12 package; scripts/install-deps.sh installs them.
find_package(PkgConfig REQUIRED)
# Debian's libxen-dev 4.17: the production binaries link these.
pkg_check_modules(XEN REQUIRED IMPORTED_TARGET
  xendevicemodel>=1.4 xenforeignmemory>=1.4 xenevtchn>=1.2 xentoolcore xencontrol xenstore)
pkg_check_modules(SECCOMP REQUIRED IMPORTED_TARGET libseccomp)
# The vGPU consoles (VNC, and WebSocket for noVNC).
pkg_check_modules(VNCSERVER REQUIRED IMPORTED_TARGET libvncserver)
find_package(Threads REQUIRED)
find_package(fmt REQUIRED)
find_package(spdlog REQUIRED)
find_package(nlohmann_json 3 REQUIRED)
find_package(CLI11 REQUIRED)
find_package(PNG REQUIRED)
find_package(ZLIB REQUIRED)  # CRC-32 of vGPU snapshots
if(XVGPU_BUILD_TESTS)
  find_package(GTest REQUIRED)
  include(GoogleTest)
endif()
if(XVGPU_BUILD_BENCH)
  find_package(benchmark REQUIRED)
endif()

# Product code uses the real Xen API headers with the tools-only interfaces visible.
add_library(xvgpu_xen_headers INTERFACE)
target_compile_definitions(xvgpu_xen_headers INTERFACE __XEN_TOOLS__=1)
# The Xen libraries a production binary links (Debian's). Tests link xensim instead.
add_library(xvgpu_xen_libs INTERFACE)
target_link_libraries(xvgpu_xen_libs INTERFACE xvgpu_xen_headers PkgConfig::XEN)
