# toolchains/emscripten-rules.cmake — read by CMake after Emscripten's platform
# file (as CMAKE_USER_MAKE_RULES_OVERRIDE, set in toolchains/emscripten.cmake),
# so it can override what that file sets: executables are CommonJS for Node,
# and .cjs keeps them CommonJS even under a package.json with "type": "module".
set(CMAKE_EXECUTABLE_SUFFIX ".cjs")
