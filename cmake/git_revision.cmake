# Run by the build (cmake -P), not at configure time, so that --version names
# the commit the binary was built from even after commits in an old build
# tree. Writes OUT only when the revision changed, so that an unchanged tree
# recompiles nothing. Inputs: SRC (the source tree), OUT, GIT_EXECUTABLE.
set(rev "")
if(GIT_EXECUTABLE AND EXISTS "${SRC}/.git")
  execute_process(COMMAND ${GIT_EXECUTABLE} describe --always --dirty --abbrev=12
                  WORKING_DIRECTORY ${SRC}
                  OUTPUT_VARIABLE rev
                  OUTPUT_STRIP_TRAILING_WHITESPACE ERROR_QUIET)
endif()
set(text "#define P11ENROLL_GIT_REVISION \"${rev}\"\n")
set(old "")
if(EXISTS "${OUT}")
  file(READ "${OUT}" old)
endif()
if(NOT old STREQUAL text)
  file(WRITE "${OUT}" "${text}")
endif()
