# Project-wide warnings; product code builds warning-free with -Werror.
add_compile_options(-Wall -Wextra -Wpedantic -Wshadow -Wformat=2 -Wcast-align -Wnull-dereference
                    -Wimplicit-fallthrough)
if(CMAKE_CXX_COMPILER_ID STREQUAL "GNU")
  add_compile_options($<$<COMPILE_LANGUAGE:CXX>:-Wuseless-cast> -Wduplicated-cond -Wlogical-op)
endif()
if(XVGPU_WERROR)
  add_compile_options(-Werror)
endif()
