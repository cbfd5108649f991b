# lesionkit_add_module(<name> SOURCES ... [PUBLIC_DEPS ...] [PRIVATE_DEPS ...]
#                      [TEST_SOURCES ...] [TEST_DEPS ...])
# One module = one static library target lesion::<name> with public headers under
# include/lesion/<name>/, and (when tests are on) one GoogleTest executable <name>Tests.
function(lesionkit_add_module name)
  cmake_parse_arguments(M "" "" "SOURCES;PUBLIC_DEPS;PRIVATE_DEPS;TEST_SOURCES;TEST_DEPS" ${ARGN})
  set(target lesion_${name})
  add_library(${target} STATIC ${M_SOURCES})
  add_library(lesion::${name} ALIAS ${target})
  target_include_directories(${target} PUBLIC
    $<BUILD_INTERFACE:${CMAKE_CURRENT_SOURCE_DIR}/include>)
  target_link_libraries(${target} PUBLIC ${M_PUBLIC_DEPS} PRIVATE ${M_PRIVATE_DEPS})
  target_compile_options(${target} PRIVATE -Wall -Wextra)
  set_target_properties(${target} PROPERTIES POSITION_INDEPENDENT_CODE ON)
  if(LESIONKIT_BUILD_TESTS AND M_TEST_SOURCES)
    add_executable(${name}Tests ${M_TEST_SOURCES})
    target_link_libraries(${name}Tests PRIVATE ${target} ${M_TEST_DEPS} lesion::testing GTest::gtest_main)
    gtest_discover_tests(${name}Tests DISCOVERY_TIMEOUT 60 NO_PRETTY_VALUES
      PROPERTIES ENVIRONMENT "LESIONKIT_TEST_DATA=${LESIONKIT_TEST_DATA};LESIONKIT_BIN=${PROJECT_BINARY_DIR}/bin")
  endif()
endfunction()
