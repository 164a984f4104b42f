# cmake -DSOURCE=cuda/x.cu -DOUTPUT=x.launch_bounds.inc -P cuda/emu/launch_bounds.cmake
#
# A C++ compiler never sees __launch_bounds__ (cuda/emu/device.h expands it to nothing), so the
# emulated build reads it from the source: every "__launch_bounds__(BOUND[, ...]) NAME(" becomes a
# registration of NAME's bound, evaluated in the file's own namespace (the first
# "namespace dsa::DSA_CUDA_TWIN..." of the file; kernels sit in it or in an anonymous namespace
# inside it). The emulator then refuses a launch of NAME with more threads per block, as the
# hardware does. The generated file is included at the end of the emulated build of SOURCE.
file(READ "${SOURCE}" text)
get_filename_component(source_name "${SOURCE}" NAME)
# Comments and string literals may mention __launch_bounds__: only code counts.
string(REGEX REPLACE "//[^\n]*" "" text "${text}")
string(REGEX REPLACE "\"[^\"\n]*\"" "\"\"" text "${text}")
string(REGEX MATCH "namespace (dsa::DSA_CUDA_TWIN[A-Za-z0-9_:]*) {" namespace_line "${text}")
set(scope "${CMAKE_MATCH_1}")
string(REGEX MATCHALL "__launch_bounds__\\([^)]*\\)[ \t\r\n]*[A-Za-z_][A-Za-z0-9_]*[ \t\r\n]*\\(" kernels "${text}")
set(registrations "")
foreach(kernel IN LISTS kernels)
  string(REGEX MATCH "__launch_bounds__\\(([^,)]*)[^)]*\\)[ \t\r\n]*([A-Za-z_][A-Za-z0-9_]*)" parts "${kernel}")
  string(APPEND registrations
         "    ::dsa::emu::register_launch_bound(\"${CMAKE_MATCH_2}\", int(${CMAKE_MATCH_1}), \"${source_name}\"),\n")
endforeach()
# Every __launch_bounds__ must be one this script understands: a bound it missed would go unchecked.
string(REGEX MATCHALL "__launch_bounds__[ \t]*\\(" uses "${text}")
list(LENGTH uses use_count)
list(LENGTH kernels kernel_count)
if(NOT use_count EQUAL kernel_count)
  message(FATAL_ERROR "${SOURCE}: ${use_count} __launch_bounds__ but ${kernel_count} of the form "
                      "'__global__ void __launch_bounds__(BOUND) name(' that the emulator's launch check reads "
                      "(cuda/emu/launch_bounds.cmake): write every kernel in that form")
endif()
set(out "// Generated from ${source_name} by cuda/emu/launch_bounds.cmake: its kernels' __launch_bounds__.\n")
if(registrations AND scope)
  string(APPEND out "namespace ${scope} {\nnamespace {\n[[maybe_unused]] const bool kLaunchBoundsRegistered = (\n"
                    "${registrations}    true);\n}  // namespace\n}  // namespace ${scope}\n")
elseif(registrations)
  message(FATAL_ERROR "${SOURCE}: kernels with __launch_bounds__ but no 'namespace dsa::DSA_CUDA_TWIN... {' to register them in")
endif()
# Rewrite only on change: an unchanged file keeps its time stamp (no recompile).
if(EXISTS "${OUTPUT}")
  file(READ "${OUTPUT}" previous)
  if(previous STREQUAL out)
    return()
  endif()
endif()
file(WRITE "${OUTPUT}" "${out}")
