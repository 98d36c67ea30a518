# Run by `cmake --install` (install(CODE) in the top CMakeLists.txt): writes the systemd units with the paths of this
# installation's prefix, the one given to --install --prefix when there is one. Expects XVGPU_SOURCE_DIR,
# XVGPU_UNIT_OUT, XVGPU_BINDIR and XVGPU_SBINDIR (the latter two relative to the prefix, or absolute).
foreach(dir BINDIR SBINDIR)
  if(IS_ABSOLUTE "${XVGPU_${dir}}")
    set(full_${dir} "${XVGPU_${dir}}")
  else()
    set(full_${dir} "${CMAKE_INSTALL_PREFIX}/${XVGPU_${dir}}")
  endif()
endforeach()
set(XVGPUCTL_PATH "${full_BINDIR}/xvgpuctl")
set(XVGPU_DM_PATH "${full_SBINDIR}/xvgpu-dm")
configure_file("${XVGPU_SOURCE_DIR}/xl-scripts/xvgpu-dm@.service.in" "${XVGPU_UNIT_OUT}/xvgpu-dm@.service" @ONLY)
