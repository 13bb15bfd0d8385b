# toolchains/deps.cmake — third-party targets and build helpers shared by every
# Urbis directory. Included once by the top-level CMakeLists.txt.
#
# Targets (the same names natively and under Emscripten):
#   urbis::sqlite3        SQLite (FTS5, JSON)   native: compiled from the amalgamation
#                         in URBIS_SQLITE_AMALGAMATION (bootstrap.sh), else pkg-config
#   urbis::sodium         libsodium             native: pkg-config libsodium
#   urbis::protobuf_lite  protobuf lite runtime native: pkg-config protobuf-lite
#   urbis::json           nlohmann/json (header-only)
#   urbis::doctest        doctest (header-only; one test source defines the main)
# Under Emscripten they come from URBIS_WASM_PREFIX (see toolchains/emscripten.cmake).
#
# Functions:
#   urbis_protobuf_generate(TARGET <tgt> PROTOS <a.proto>... IMPORT_DIR <dir>)
#   urbis_set_warnings(<tgt>)   -Wall -Wextra, plus -Werror when URBIS_WERROR is ON

include_guard(GLOBAL)

if(DEFINED ENV{CI})
  set(_urbis_werror_default ON)
else()
  set(_urbis_werror_default OFF)
endif()
option(URBIS_WERROR "Treat compiler warnings in Urbis targets as errors" ${_urbis_werror_default})

# _urbis_interface(<name> INCLUDE <dir> LINK <item>...): one GLOBAL imported
# target, so every subdirectory sees it.
function(_urbis_interface name)
  cmake_parse_arguments(ARG "" "INCLUDE" "LINK" ${ARGN})
  add_library(${name} INTERFACE IMPORTED GLOBAL)
  if(ARG_INCLUDE)
    set_property(TARGET ${name} PROPERTY INTERFACE_INCLUDE_DIRECTORIES "${ARG_INCLUDE}")
  endif()
  if(ARG_LINK)
    set_property(TARGET ${name} PROPERTY INTERFACE_LINK_LIBRARIES "${ARG_LINK}")
  endif()
endfunction()

if(EMSCRIPTEN)
  if(NOT URBIS_WASM_PREFIX)
    message(FATAL_ERROR "wasm builds need toolchains/emscripten.cmake as CMAKE_TOOLCHAIN_FILE")
  endif()
  set(_inc "${URBIS_WASM_PREFIX}/include")
  foreach(_lib sqlite3 sodium protobuf-lite)
    if(NOT EXISTS "${URBIS_WASM_PREFIX}/lib/lib${_lib}.a")
      message(FATAL_ERROR "${URBIS_WASM_PREFIX}/lib/lib${_lib}.a is missing: run toolchains/bootstrap.sh deps")
    endif()
  endforeach()
  _urbis_interface(urbis::sqlite3 INCLUDE "${_inc}" LINK "${URBIS_WASM_PREFIX}/lib/libsqlite3.a")
  _urbis_interface(urbis::sodium INCLUDE "${_inc}" LINK "${URBIS_WASM_PREFIX}/lib/libsodium.a")
  _urbis_interface(urbis::protobuf_lite INCLUDE "${_inc}" LINK "${URBIS_WASM_PREFIX}/lib/libprotobuf-lite.a")
  _urbis_interface(urbis::json INCLUDE "${_inc}")
  _urbis_interface(urbis::doctest INCLUDE "${_inc}")
else()
  find_package(PkgConfig REQUIRED)
  # SQLite compiled in from its amalgamation (toolchains/bootstrap.sh makes it
  # from the Debian source pinned in toolchains/wasm-deps.lock, as for wasm):
  # Debian's libsqlite3 is built with SQLITE_OMIT_LOOKASIDE, so each small
  # allocation of a statement goes to malloc; compiled in, the benchmark's
  # apply and commit rows run 1.3-1.9x faster (docs/BENCHMARKS.md, "SQLite
  # compiled in"). Of Debian's options it keeps what Urbis uses or relies on
  # (secure_delete, FTS5, dbstat, URI names, the variable limit) and its
  # hardening flags; it leaves out the extensions nothing here uses (FTS3/4,
  # RTREE, session, load_extension) and memory statistics.
  set(URBIS_SQLITE_AMALGAMATION "$ENV{URBIS_SQLITE_AMALGAMATION}"
      CACHE PATH "Directory with SQLite's sqlite3.c, sqlite3.h and sqlite_cfg.h to compile in (empty: the system's libsqlite3)")
  if(URBIS_SQLITE_AMALGAMATION)
    if(NOT EXISTS "${URBIS_SQLITE_AMALGAMATION}/sqlite3.c" OR NOT EXISTS "${URBIS_SQLITE_AMALGAMATION}/sqlite3.h"
       OR NOT EXISTS "${URBIS_SQLITE_AMALGAMATION}/sqlite_cfg.h")
      message(FATAL_ERROR "URBIS_SQLITE_AMALGAMATION=${URBIS_SQLITE_AMALGAMATION} lacks sqlite3.c, sqlite3.h or sqlite_cfg.h: "
                          "run toolchains/bootstrap.sh deps, or set it empty for the system's libsqlite3")
    endif()
    find_package(Threads REQUIRED)
    add_library(urbis_sqlite3 STATIC "${URBIS_SQLITE_AMALGAMATION}/sqlite3.c")
    target_include_directories(urbis_sqlite3 SYSTEM PUBLIC "${URBIS_SQLITE_AMALGAMATION}")
    # sqlite_cfg.h: what SQLite's configure found of this machine (usleep for
    # the busy handler's short waits, fdatasync, localtime_r...).
    target_compile_definitions(urbis_sqlite3 PRIVATE _HAVE_SQLITE_CONFIG_H
      SQLITE_THREADSAFE=1 SQLITE_DEFAULT_MEMSTATUS=0 SQLITE_OMIT_LOAD_EXTENSION SQLITE_SECURE_DELETE
      SQLITE_ENABLE_FTS5 SQLITE_ENABLE_DBSTAT_VTAB SQLITE_ENABLE_MATH_FUNCTIONS SQLITE_LIKE_DOESNT_MATCH_BLOBS
      SQLITE_DEFAULT_FILE_FORMAT=4 SQLITE_MAX_VARIABLE_NUMBER=250000 SQLITE_USE_URI)
    # Optimized in every build type (a debug build debugs Urbis, not SQLite);
    # SQLite's own warnings are not ours to fix. Debian's hardening
    # (dpkg-buildflags) stays: this code parses store files, which may be
    # damaged or handed over; -fcf-protection where the target has it (x86).
    target_compile_options(urbis_sqlite3 PRIVATE -O2 -fno-strict-aliasing -w -fstack-protector-strong
                                                 -D_FORTIFY_SOURCE=2)
    include(CheckCCompilerFlag)
    check_c_compiler_flag(-fcf-protection URBIS_C_HAS_CF_PROTECTION)
    if(URBIS_C_HAS_CF_PROTECTION)
      target_compile_options(urbis_sqlite3 PRIVATE -fcf-protection)
    endif()
    target_link_libraries(urbis_sqlite3 PUBLIC Threads::Threads m)
    _urbis_interface(urbis::sqlite3 LINK urbis_sqlite3)
    message(STATUS "SQLite: compiled in from ${URBIS_SQLITE_AMALGAMATION}")
  else()
    pkg_check_modules(URBIS_PC_SQLITE3 REQUIRED IMPORTED_TARGET GLOBAL sqlite3)
    _urbis_interface(urbis::sqlite3 LINK PkgConfig::URBIS_PC_SQLITE3)
    if(URBIS_FUZZ)  # on purpose: fuzzing time goes to Urbis, not to instrumented SQLite
      message(STATUS "SQLite: the system's libsqlite3")
    else()
      message(WARNING "SQLite: the system's libsqlite3, which is slower (built without lookaside); "
                      "toolchains/bootstrap.sh deps prepares the amalgamation: -DURBIS_SQLITE_AMALGAMATION=<dir>")
    endif()
  endif()
  pkg_check_modules(URBIS_PC_SODIUM REQUIRED IMPORTED_TARGET GLOBAL libsodium)
  pkg_check_modules(URBIS_PC_PROTOBUF_LITE REQUIRED IMPORTED_TARGET GLOBAL protobuf-lite)
  find_package(nlohmann_json 3 REQUIRED)
  find_package(doctest REQUIRED)
  _urbis_interface(urbis::sodium LINK PkgConfig::URBIS_PC_SODIUM)
  _urbis_interface(urbis::protobuf_lite LINK PkgConfig::URBIS_PC_PROTOBUF_LITE)
  _urbis_interface(urbis::json LINK nlohmann_json::nlohmann_json)
  _urbis_interface(urbis::doctest LINK doctest::doctest)
endif()

# The host protoc, also when cross-compiling (Debian's protoc 3.21.12 matches
# the wasm runtime pinned in toolchains/wasm-deps.lock).
find_program(URBIS_PROTOC protoc NO_CMAKE_FIND_ROOT_PATH REQUIRED)

# urbis_protobuf_generate(TARGET <tgt> PROTOS <files>... IMPORT_DIR <dir>)
# Runs protoc --cpp_out for each .proto (paths relative to the calling
# directory's source dir; each must lie under IMPORT_DIR, which is also the
# proto import path). The .pb.cc files join <tgt>'s sources, compiled without
# warnings; ${CMAKE_CURRENT_BINARY_DIR}/gen becomes a PUBLIC include dir, so
# `import "x/y.proto"` is included as "x/y.pb.h". Call it in the directory that
# defines <tgt> (custom-command outputs attach to targets of their directory).
function(urbis_protobuf_generate)
  cmake_parse_arguments(ARG "" "TARGET;IMPORT_DIR" "PROTOS" ${ARGN})
  if(NOT ARG_TARGET OR NOT ARG_PROTOS OR NOT ARG_IMPORT_DIR OR ARG_UNPARSED_ARGUMENTS)
    message(FATAL_ERROR "usage: urbis_protobuf_generate(TARGET <tgt> PROTOS <files>... IMPORT_DIR <dir>)")
  endif()
  get_filename_component(import_dir "${ARG_IMPORT_DIR}" ABSOLUTE)
  set(gen_dir "${CMAKE_CURRENT_BINARY_DIR}/gen")
  file(MAKE_DIRECTORY "${gen_dir}")
  set(sources)
  foreach(proto IN LISTS ARG_PROTOS)
    get_filename_component(proto_abs "${proto}" ABSOLUTE)
    file(RELATIVE_PATH rel "${import_dir}" "${proto_abs}")
    if(rel MATCHES "^\\.\\./" OR NOT rel MATCHES "\\.proto$")
      message(FATAL_ERROR "urbis_protobuf_generate: ${proto} is not a .proto under ${import_dir}")
    endif()
    string(REGEX REPLACE "\\.proto$" "" stem "${rel}")
    set(out_cc "${gen_dir}/${stem}.pb.cc")
    set(out_h "${gen_dir}/${stem}.pb.h")
    add_custom_command(
      OUTPUT "${out_cc}" "${out_h}"
      COMMAND "${URBIS_PROTOC}" "--proto_path=${import_dir}" "--cpp_out=${gen_dir}" "${proto_abs}"
      DEPENDS "${proto_abs}" "${URBIS_PROTOC}"
      COMMENT "protoc ${rel}"
      VERBATIM)
    list(APPEND sources "${out_cc}" "${out_h}")
  endforeach()
  target_sources(${ARG_TARGET} PRIVATE ${sources})
  set_source_files_properties(${sources} TARGET_DIRECTORY ${ARG_TARGET}
    PROPERTIES GENERATED TRUE COMPILE_OPTIONS "-w")
  # SYSTEM: our -Werror must not trip on warnings inside generated headers.
  target_include_directories(${ARG_TARGET} SYSTEM PUBLIC "$<BUILD_INTERFACE:${gen_dir}>")
  target_link_libraries(${ARG_TARGET} PUBLIC urbis::protobuf_lite)
endfunction()

# urbis_set_warnings(<tgt>): our own code builds warning-clean; CI (env CI set)
# turns warnings into errors through URBIS_WERROR.
function(urbis_set_warnings tgt)
  target_compile_options(${tgt} PRIVATE -Wall -Wextra $<$<BOOL:${URBIS_WERROR}>:-Werror>)
endfunction()
