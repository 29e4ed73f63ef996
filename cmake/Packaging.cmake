# SPDX-License-Identifier: MIT
# Install rules, libipc.pc, the CMake package libipc::, and the export check.
#
# Included by the top-level CMakeLists.txt once the targets ipc (shared) and
# ipc_static exist.
include(CMakePackageConfigHelpers)

set(IPC_CMAKE_DIR ${CMAKE_INSTALL_LIBDIR}/cmake/libipc)

install(TARGETS ipc ipc_static EXPORT libipcTargets
  LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR}
    COMPONENT Runtime NAMELINK_COMPONENT Development
  ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR} COMPONENT Development
  RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR} COMPONENT Runtime)
# The targets carry $<INSTALL_INTERFACE:include> already (top level).
# Every public header: ipc.h (the umbrella) and one per module.
file(GLOB IPC_PUBLIC_HEADERS ${PROJECT_SOURCE_DIR}/include/ipc/*.h)
install(FILES ${IPC_PUBLIC_HEADERS}
  DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}/ipc COMPONENT Development)

# --- CMake package: find_package(libipc) -> libipc::ipc, libipc::ipc_static
install(EXPORT libipcTargets NAMESPACE libipc::
  DESTINATION ${IPC_CMAKE_DIR} COMPONENT Development)
# libipcConfig.cmake asks for nng's package when the static library
# names its target nng::nng.
if(IPC_WITH_NNG AND IPC_NNG_LIBRARY STREQUAL "nng::nng")
  set(IPC_FIND_NNG "find_dependency(nng)")
else()
  set(IPC_FIND_NNG "# nng: not linked, or linked by path")
endif()
configure_package_config_file(${CMAKE_CURRENT_LIST_DIR}/libipcConfig.cmake.in
  ${PROJECT_BINARY_DIR}/libipcConfig.cmake
  INSTALL_DESTINATION ${IPC_CMAKE_DIR})
# Until 1.0, SameMajorVersion accepts any 0.x: say so in the release notes
# of an incompatible 0.x.
write_basic_package_version_file(${PROJECT_BINARY_DIR}/libipcConfigVersion.cmake
  VERSION ${PROJECT_VERSION} COMPATIBILITY SameMajorVersion)
install(FILES ${PROJECT_BINARY_DIR}/libipcConfig.cmake
              ${PROJECT_BINARY_DIR}/libipcConfigVersion.cmake
  DESTINATION ${IPC_CMAKE_DIR} COMPONENT Development)

# --- pkg-config: libipc.pc
# The file names its install prefix, and `cmake --install --prefix DIR`
# changes the prefix after configuration. So it is made in two steps: now,
# everything but the prefix (kept as the literal @CMAKE_INSTALL_PREFIX@);
# at install time, the prefix the install really uses.
set(IPC_PC_PREFIX "@CMAKE_INSTALL_PREFIX@")
foreach(dir LIBDIR INCLUDEDIR)
  if(IS_ABSOLUTE "${CMAKE_INSTALL_${dir}}")
    set(IPC_PC_${dir} "${CMAKE_INSTALL_${dir}}")
  else()
    set(IPC_PC_${dir} "\${prefix}/${CMAKE_INSTALL_${dir}}")
  endif()
endforeach()
# Only a static link needs these: the shared library records its own.
# librt is empty since glibc 2.34 but still needed by older C libraries.
set(IPC_PC_LIBS_PRIVATE "-pthread")
if(IPC_LIBRT)
  string(APPEND IPC_PC_LIBS_PRIVATE " -lrt")
endif()
# nng: Debian ships no nng.pc (so no Requires.private), only the library.
if(IPC_WITH_NNG)
  string(APPEND IPC_PC_LIBS_PRIVATE " -lnng")
endif()
configure_file(${CMAKE_CURRENT_LIST_DIR}/libipc.pc.in
  ${PROJECT_BINARY_DIR}/libipc.pc.in @ONLY)
install(CODE "configure_file(\"${PROJECT_BINARY_DIR}/libipc.pc.in\"
  \"${PROJECT_BINARY_DIR}/libipc.pc\" @ONLY)" COMPONENT Development)
install(FILES ${PROJECT_BINARY_DIR}/libipc.pc
  DESTINATION ${CMAKE_INSTALL_LIBDIR}/pkgconfig COMPONENT Development)

# --- Export check: the shared library exports exactly the public headers'
# functions.
if(BUILD_TESTING)
  add_test(NAME packaging.exports
    COMMAND sh ${PROJECT_SOURCE_DIR}/tests/scripts/export_check.sh
            $<TARGET_FILE:ipc> ${PROJECT_SOURCE_DIR}/include/ipc
            ${CMAKE_NM})
  set_tests_properties(packaging.exports PROPERTIES LABELS packaging)
endif()
