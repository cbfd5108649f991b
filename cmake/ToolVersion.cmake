# Writes OUTPUT (a header defining LESIONKIT_VERSION) from VERSION and the source tree's git commit:
# "0.1.0+g1a2b3c4d5e" (".dirty.<8 hex of the diff>" when tracked files differ from the commit, so two
# different uncommitted builds do not share a batch parameters hash), plain VERSION outside a
# git checkout. Run at every build (cmake -P) so a new commit never keeps the old string; the file
# is rewritten only when the text changes, so nothing recompiles otherwise. The version goes into
# every report and into the batch's parameters hash: results of different code are never reused.
find_package(Git QUIET)
set(version "${VERSION}")
if(GIT_FOUND)
  execute_process(COMMAND "${GIT_EXECUTABLE}" -C "${SOURCE_DIR}" rev-parse --short=10 HEAD
                  OUTPUT_VARIABLE commit OUTPUT_STRIP_TRAILING_WHITESPACE ERROR_QUIET RESULT_VARIABLE failed)
  if(NOT failed AND commit)
    string(APPEND version "+g${commit}")
    execute_process(COMMAND "${GIT_EXECUTABLE}" -C "${SOURCE_DIR}" status --porcelain --untracked-files=no
                    OUTPUT_VARIABLE changes OUTPUT_STRIP_TRAILING_WHITESPACE ERROR_QUIET)
    if(changes)
      execute_process(COMMAND "${GIT_EXECUTABLE}" -C "${SOURCE_DIR}" diff HEAD
                      OUTPUT_VARIABLE diff ERROR_QUIET)
      string(SHA256 diffHash "${diff}")
      string(SUBSTRING "${diffHash}" 0 8 diffHash)
      string(APPEND version ".dirty.${diffHash}")
    endif()
  endif()
endif()
file(CONFIGURE OUTPUT "${OUTPUT}" CONTENT "#pragma once\n#define LESIONKIT_VERSION \"${version}\"\n")
