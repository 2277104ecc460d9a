# ctest "consumer": every way README section 6 documents to link libmyelin, each built in a
# temporary folder and run on a bundle (with no LD_LIBRARY_PATH):
#   1. installs the build into a temporary prefix (myelin.h, myelin.hpp, libraries, CMake
#      and pkg-config files);
#   2. an outside CMake project (Tests/RuntimeC/consumer: C shared, C static, C++ with
#      myelin.hpp) with find_package(Myelin) against the prefix, then with
#      Myelin_DIR = the build folder (no install);
#   3. every line of README section 6's block "# Link lines", run by sh exactly as written
#      with PREFIX, MYELIN_SRC, MYELIN_BUILD and PKG_CONFIG_PATH set, building app.c /
#      app.cpp (the consumer's main.c / main.cpp);
#   4. a missing bundle makes the consumer print the path and the OS error.
#   cmake -DBUILD_DIR=… -DSOURCE_DIR=… -DCONSUMER_DIR=… -DBUNDLE=… -DC_COMPILER=… -DCXX_COMPILER=… -DLIBDIR=lib -P ConsumerTest.cmake
if(DEFINED ENV{TMPDIR})
  set(tmp_root "$ENV{TMPDIR}")
else()
  set(tmp_root /tmp)
endif()
string(RANDOM LENGTH 8 suffix)
set(tmp "${tmp_root}/myelin-consumer-${suffix}")
file(REMOVE_RECURSE "${tmp}")
file(MAKE_DIRECTORY "${tmp}")
set(prefix "${tmp}/prefix")
# Run the programs as a user would: the run path must find libmyelin.so, not the environment.
set(clean_env "${CMAKE_COMMAND}" -E env --unset=LD_LIBRARY_PATH)

function(run)
  execute_process(COMMAND ${ARGN} RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "failed (${rc}): ${ARGN}\n${out}\n${err}")
  endif()
  message(STATUS "${out}")
endfunction()

# 1. Install.
run("${CMAKE_COMMAND}" --install "${BUILD_DIR}" --prefix "${prefix}")
foreach(f include/myelin.h include/myelin.hpp ${LIBDIR}/cmake/Myelin/MyelinConfig.cmake ${LIBDIR}/pkgconfig/myelin.pc ${LIBDIR}/libmyelin.a)
  if(NOT EXISTS "${prefix}/${f}")
    message(FATAL_ERROR "not installed: ${f}")
  endif()
endforeach()

# 2. find_package(Myelin): installed prefix, then the build tree.
file(COPY "${CONSUMER_DIR}/" DESTINATION "${tmp}/src")
foreach(how prefix tree)
  if(how STREQUAL "prefix")
    set(locate "-DCMAKE_PREFIX_PATH=${prefix}")
    set(programs consumer consumer_static consumer_cpp)
  else()
    set(locate "-DMyelin_DIR=${BUILD_DIR}")
    set(programs consumer consumer_cpp)
  endif()
  run("${CMAKE_COMMAND}" -S "${tmp}/src" -B "${tmp}/build-${how}" ${locate}
      "-DCMAKE_C_COMPILER=${C_COMPILER}" "-DCMAKE_CXX_COMPILER=${CXX_COMPILER}")
  run("${CMAKE_COMMAND}" --build "${tmp}/build-${how}")
  foreach(p IN LISTS programs)
    run(${clean_env} "${tmp}/build-${how}/${p}" "${BUNDLE}")
  endforeach()
endforeach()

# 3. README's link lines, as written.
file(READ "${SOURCE_DIR}/README.md" readme)
string(FIND "${readme}" "# Link lines" at)
if(at LESS 0)
  message(FATAL_ERROR "README.md has no block \"# Link lines\"")
endif()
string(SUBSTRING "${readme}" ${at} -1 block)
string(FIND "${block}" "```" end)
string(SUBSTRING "${block}" 0 ${end} block)
string(REGEX MATCHALL "[^\n]+" lines "${block}")
file(MAKE_DIRECTORY "${tmp}/lines")
file(COPY_FILE "${CONSUMER_DIR}/main.c" "${tmp}/lines/app.c")
file(COPY_FILE "${CONSUMER_DIR}/main.cpp" "${tmp}/lines/app.cpp")
find_program(SH sh REQUIRED)
set(count 0)
foreach(line IN LISTS lines)
  string(STRIP "${line}" line)
  if(line STREQUAL "" OR line MATCHES "^#")
    continue()
  endif()
  string(REGEX REPLACE "^(cc|c\\+\\+) " "" rest "${line}")
  string(REGEX MATCH "^(cc|c\\+\\+) " tool "${line}")
  # cc / c++ are this build's compilers.
  if(tool STREQUAL "cc ")
    set(line "\"${C_COMPILER}\" ${rest}")
  elseif(tool STREQUAL "c++ ")
    set(line "\"${CXX_COMPILER}\" ${rest}")
  endif()
  file(REMOVE "${tmp}/lines/app")
  message(STATUS "link line: ${line}")
  execute_process(COMMAND "${CMAKE_COMMAND}" -E env "PREFIX=${prefix}" "MYELIN_SRC=${SOURCE_DIR}" "MYELIN_BUILD=${BUILD_DIR}"
                          "PKG_CONFIG_PATH=${prefix}/${LIBDIR}/pkgconfig" "${SH}" -ec "${line}"
                  WORKING_DIRECTORY "${tmp}/lines" RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "README link line failed (${rc}): ${line}\n${out}\n${err}")
  endif()
  run(${clean_env} "${tmp}/lines/app" "${BUNDLE}")
  math(EXPR count "${count} + 1")
endforeach()
if(count LESS 5)
  message(FATAL_ERROR "README's link lines: ${count} found, expected 5")
endif()

# 4. A missing bundle: the path and the OS error.
execute_process(COMMAND ${clean_env} "${tmp}/build-prefix/consumer" "${tmp}/missing.myelin"
                RESULT_VARIABLE rc ERROR_VARIABLE err)
if(rc EQUAL 0 OR NOT err MATCHES "missing.myelin: No such file or directory")
  message(FATAL_ERROR "missing bundle: exit ${rc}, \"${err}\"")
endif()
execute_process(COMMAND ${clean_env} "${tmp}/build-prefix/consumer_cpp" "${tmp}/missing.myelin"
                RESULT_VARIABLE rc ERROR_VARIABLE err)
if(rc EQUAL 0 OR NOT err MATCHES "missing.myelin: No such file or directory")
  message(FATAL_ERROR "missing bundle (C++): exit ${rc}, \"${err}\"")
endif()
file(REMOVE_RECURSE "${tmp}")
