# ctest "consumer": installs the build into a temporary prefix, then builds an outside
# project from a temporary folder against the installed files — with find_package(Myelin)
# (shared and static) and with pkg-config — and runs each result on a bundle.
#   cmake -DBUILD_DIR=… -DCONSUMER_DIR=… -DBUNDLE=… -DC_COMPILER=… -DLIBDIR=lib -P ConsumerTest.cmake
if(DEFINED ENV{TMPDIR})
  set(tmp_root "$ENV{TMPDIR}")
else()
  set(tmp_root /tmp)
endif()
string(RANDOM LENGTH 8 suffix)
set(tmp "${tmp_root}/myelin-consumer-${suffix}")
file(REMOVE_RECURSE "${tmp}")
file(MAKE_DIRECTORY "${tmp}")

function(run)
  execute_process(COMMAND ${ARGN} RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "failed (${rc}): ${ARGN}\n${out}\n${err}")
  endif()
  message(STATUS "${out}")
endfunction()

run("${CMAKE_COMMAND}" --install "${BUILD_DIR}" --prefix "${tmp}/prefix")
file(COPY "${CONSUMER_DIR}/" DESTINATION "${tmp}/src")
run("${CMAKE_COMMAND}" -S "${tmp}/src" -B "${tmp}/build" "-DCMAKE_PREFIX_PATH=${tmp}/prefix" "-DCMAKE_C_COMPILER=${C_COMPILER}")
run("${CMAKE_COMMAND}" --build "${tmp}/build")
run("${tmp}/build/consumer" "${BUNDLE}")
run("${tmp}/build/consumer_static" "${BUNDLE}")

# pkg-config, shared and static.
set(pc_env "PKG_CONFIG_PATH=${tmp}/prefix/${LIBDIR}/pkgconfig")
execute_process(COMMAND "${CMAKE_COMMAND}" -E env "${pc_env}" pkg-config --cflags --libs myelin
                OUTPUT_VARIABLE flags RESULT_VARIABLE rc OUTPUT_STRIP_TRAILING_WHITESPACE)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "pkg-config cannot find myelin in ${tmp}/prefix")
endif()
separate_arguments(flags)
run("${C_COMPILER}" "${tmp}/src/main.c" ${flags} -o "${tmp}/consumer_pc")
run("${CMAKE_COMMAND}" -E env "LD_LIBRARY_PATH=${tmp}/prefix/${LIBDIR}" "${tmp}/consumer_pc" "${BUNDLE}")
execute_process(COMMAND "${CMAKE_COMMAND}" -E env "${pc_env}" pkg-config --variable=libdir myelin
                OUTPUT_VARIABLE libdir OUTPUT_STRIP_TRAILING_WHITESPACE)
execute_process(COMMAND "${CMAKE_COMMAND}" -E env "${pc_env}" pkg-config --cflags myelin
                OUTPUT_VARIABLE cflags OUTPUT_STRIP_TRAILING_WHITESPACE)
separate_arguments(cflags)
run("${C_COMPILER}" "${tmp}/src/main.c" ${cflags} "${libdir}/libmyelin.a" -lz -lm -o "${tmp}/consumer_pc_static")
run("${tmp}/consumer_pc_static" "${BUNDLE}")
file(REMOVE_RECURSE "${tmp}")
