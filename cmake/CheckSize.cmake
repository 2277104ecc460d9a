# ctest "size": the stripped shared library stays within the issue's budget (<= LIMIT bytes).
# Strips a copy (the build's library keeps its symbols) and prints the size and the headroom.
#   cmake -DLIBRARY=libmyelin.so -DSTRIP=strip -DLIMIT=204800 -DOUTPUT=<copy path> -P CheckSize.cmake
if(NOT STRIP)
  message(FATAL_ERROR "no strip program (CMAKE_STRIP is empty)")
endif()
file(COPY_FILE "${LIBRARY}" "${OUTPUT}")
execute_process(COMMAND "${STRIP}" "${OUTPUT}" RESULT_VARIABLE rc ERROR_VARIABLE err)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "${STRIP} failed on a copy of ${LIBRARY}: ${err}")
endif()
file(SIZE "${OUTPUT}" size)
file(REMOVE "${OUTPUT}")
if(size LESS_EQUAL 0)
  message(FATAL_ERROR "stripped copy of ${LIBRARY} is empty")
endif()
if(size GREATER LIMIT)
  math(EXPR over "${size} - ${LIMIT}")
  message(FATAL_ERROR "stripped ${LIBRARY} is ${size} bytes, ${over} over the ${LIMIT}-byte limit "
                      "(find what grew: nm --size-sort -S ${LIBRARY} | swift demangle --simplified)")
endif()
math(EXPR headroom "${LIMIT} - ${size}")
message(STATUS "stripped ${LIBRARY}: ${size} bytes (limit ${LIMIT}, headroom ${headroom})")
