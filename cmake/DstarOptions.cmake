# Compiler flags shared by every dstar target.
#
# Floating point: the CPU backend is the numerical reference and must give the same
# bits for any thread count, optimisation level and run.  So: no -ffast-math and no
# FMA contraction (-ffp-contract=off); vector code is explicit (quant/ kernels) and
# keeps the reference summation order.
add_library(dstar_options INTERFACE)
target_compile_options(dstar_options INTERFACE
  $<$<COMPILE_LANGUAGE:CXX>:-Wall -Wextra -Wpedantic -Wshadow -Wnon-virtual-dtor
                            -Wimplicit-fallthrough -Wno-missing-field-initializers
                            -ffp-contract=off -fno-math-errno>
  $<$<AND:$<COMPILE_LANGUAGE:CXX>,$<BOOL:${DSTAR_WERROR}>>:-Werror>)
target_compile_definitions(dstar_options INTERFACE
  DSTAR_SHARED_DIR="${DSTAR_SHARED_DIR}"
  DSTAR_SOURCE_DIR="${CMAKE_SOURCE_DIR}")
target_link_libraries(dstar_options INTERFACE Threads::Threads)

# dstar_add_library(NAME SOURCES ... DEPS ...): a static library for one stage.
function(dstar_add_library name)
  cmake_parse_arguments(A "" "" "SOURCES;DEPS" ${ARGN})
  add_library(${name} STATIC ${A_SOURCES})
  target_include_directories(${name} PUBLIC ${CMAKE_SOURCE_DIR}/src)
  target_link_libraries(${name} PUBLIC dstar_options ${A_DEPS})
endfunction()
