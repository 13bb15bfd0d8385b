# toolchains/emscripten.cmake — CMake toolchain for Urbis' wasm32 builds.
#
# Wraps Debian's Emscripten toolchain file and adds what Urbis needs:
#  - URBIS_WASM_PREFIX: the prefix with SQLite, libsodium, protobuf-lite and the
#    header-only libraries built by `toolchains/bootstrap.sh deps`. Pass it as
#    -DURBIS_WASM_PREFIX=... or in the environment (bootstrap.sh does both; by
#    hand: eval "$(toolchains/bootstrap.sh env)"). It is cached, so later
#    re-configures need neither.
#  - wasm exceptions everywhere (-fwasm-exceptions: the dependencies are built
#    the same way; without it a throw aborts), memory growth on.
#  - Executables default to Node programs (tests, benchmarks, tools):
#    -sENVIRONMENT=node -sWASM_ASYNC_COMPILATION=0 -sEXIT_RUNTIME=1, suffix .cjs,
#    run by ctest / custom commands through CMAKE_CROSSCOMPILING_EMULATOR=node.
#    node-env.pre.js makes getenv() see the real environment (Emscripten's is fake).
#    A browser module overrides per target, e.g.
#      target_link_options(app PRIVATE -sENVIRONMENT=web,worker -sEXPORT_ES6=1
#                          -sMODULARIZE=1 -sEXIT_RUNTIME=0)
#      set_target_properties(app PROPERTIES SUFFIX .mjs)
#    (target options come after these defaults and a later -s setting wins).
# Facts behind each flag: shared/TOOLCHAIN.md ("Emscripten 3.1.6 pitfalls").

# Debian's toolchain file; $EMSCRIPTEN (an emsdk checkout) is honoured first.
find_file(URBIS_EMSCRIPTEN_TOOLCHAIN Emscripten.cmake
  PATHS "$ENV{EMSCRIPTEN}/cmake/Modules/Platform"
        /usr/share/emscripten/cmake/Modules/Platform
  NO_DEFAULT_PATH)
if(NOT URBIS_EMSCRIPTEN_TOOLCHAIN)
  message(FATAL_ERROR "Emscripten's CMake toolchain was not found: apt-get install emscripten "
                      "(or run toolchains/bootstrap.sh deps)")
endif()
include("${URBIS_EMSCRIPTEN_TOOLCHAIN}")

# The dependency prefix: command line / cache first, then the environment.
if(NOT URBIS_WASM_PREFIX AND DEFINED ENV{URBIS_WASM_PREFIX})
  set(URBIS_WASM_PREFIX "$ENV{URBIS_WASM_PREFIX}")
endif()
set(URBIS_WASM_PREFIX "${URBIS_WASM_PREFIX}" CACHE PATH
    "wasm32 dependency prefix built by toolchains/bootstrap.sh deps")
if(NOT EXISTS "${URBIS_WASM_PREFIX}/lib/libsqlite3.a")
  message(FATAL_ERROR "URBIS_WASM_PREFIX='${URBIS_WASM_PREFIX}' holds no wasm32 dependencies. "
                      "Run toolchains/bootstrap.sh deps, then configure with "
                      "-DURBIS_WASM_PREFIX=<prefix> or eval \"$(toolchains/bootstrap.sh env)\".")
endif()
list(APPEND CMAKE_FIND_ROOT_PATH "${URBIS_WASM_PREFIX}")
# try_compile projects re-read this file without the main project's cache.
list(APPEND CMAKE_TRY_COMPILE_PLATFORM_VARIABLES URBIS_WASM_PREFIX)

# Plain node: emcmake's default adds --experimental-wasm-threads, which Node 20 rejects.
find_program(URBIS_NODE NAMES node nodejs REQUIRED)
set(CMAKE_CROSSCOMPILING_EMULATOR "${URBIS_NODE}")

set(CMAKE_C_FLAGS_INIT "-fwasm-exceptions")
set(CMAKE_CXX_FLAGS_INIT "-fwasm-exceptions")
set(CMAKE_EXE_LINKER_FLAGS_INIT
    "-fwasm-exceptions -sALLOW_MEMORY_GROWTH=1 -sENVIRONMENT=node -sWASM_ASYNC_COMPILATION=0 -sEXIT_RUNTIME=1 --pre-js ${CMAKE_CURRENT_LIST_DIR}/node-env.pre.js")

# Executable suffix .cjs: Emscripten.cmake is re-read as the platform file and
# sets ".js" after this file, so the override lives in a rules file read later.
set(CMAKE_USER_MAKE_RULES_OVERRIDE "${CMAKE_CURRENT_LIST_DIR}/emscripten-rules.cmake")
