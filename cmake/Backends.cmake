# SPDX-License-Identifier: MIT
# The one list of backends, and the OS features they need.
#
# Each ipc_backend() line below makes, for its backend: the option
# IPC_WITH_<NAME>, its sources in IPC_SOURCES, the compile definition
# IPC_WITH_<NAME>=0/1, its scheme in IPC_BACKENDS (in this order), and its
# line in the generated ${PROJECT_BINARY_DIR}/generated/ipc_backends.h, the
# X-macro list src/registry.c is built from (so the registry, and
# ipc_scheme(i), list the backends in this order). A backend whose option is
# OFF, or whose REQUIRES names a feature not found, is built out: it still
# owns its scheme and answers IPC_ENOTSUP "built without <name>: <feature>
# not found". A feature a backend can do without costs only the address
# form that needs it (CUTS <feature> <form>: "CUTS abstract_socket @" is
# unix:@name); the backend's code tests IPC_HAVE_<FEATURE> and answers
# IPC_ENOTSUP "built without unix:@name: <feature> not found".
#
# Testing the built-out paths: -DIPC_FORCE_MISSING="epoll;abstract_socket"
# treats those features as not found, as a C library without them would.
#
# Included by the top-level CMakeLists.txt before the library is defined;
# needs IPC_LIBRT (librt, or empty when libc has it all).
include(CheckSymbolExists)
include(CheckCSourceCompiles)

set(IPC_FORCE_MISSING "" CACHE STRING
    "Features to treat as not found, to test the built-out answers (e.g. epoll;abstract_socket)")

set(IPC_FEATURES "")

# ipc_feature(<key> TEXT <words> (SYMBOLS <sym>... HEADERS <h>... | SOURCE <c>)
#             [LIBRARIES <lib>...])
# Sets IPC_HAVE_<KEY> to 1 or 0 and IPC_FEATURE_TEXT_<key> for messages.
# Checked with _GNU_SOURCE (the library's build), librt and LIBRARIES (a
# library not found, <name>-NOTFOUND, is the feature not found).
function(ipc_feature key)
  cmake_parse_arguments(PARSE_ARGV 1 F "" "TEXT;SOURCE" "SYMBOLS;HEADERS;LIBRARIES")
  string(TOUPPER ${key} KEY)
  set(CMAKE_REQUIRED_DEFINITIONS -D_GNU_SOURCE)
  set(CMAKE_REQUIRED_LIBRARIES ${IPC_LIBRT} Threads::Threads ${F_LIBRARIES})
  set(CMAKE_REQUIRED_QUIET ON)
  set(found 1)
  if(key IN_LIST IPC_FORCE_MISSING OR F_LIBRARIES MATCHES "-NOTFOUND")
    set(found 0)
  elseif(F_SOURCE)
    check_c_source_compiles("${F_SOURCE}" IPC_CHECK_${KEY})
    if(NOT IPC_CHECK_${KEY})
      set(found 0)
    endif()
  else()
    foreach(sym IN LISTS F_SYMBOLS)
      string(TOUPPER ${sym} SYM)
      check_symbol_exists(${sym} "${F_HEADERS}" IPC_CHECK_${KEY}_${SYM})
      if(NOT IPC_CHECK_${KEY}_${SYM})
        set(found 0)
      endif()
    endforeach()
  endif()
  set(IPC_HAVE_${KEY} ${found} PARENT_SCOPE)
  set(IPC_FEATURE_TEXT_${key} "${F_TEXT}" PARENT_SCOPE)
  set(IPC_FEATURES ${IPC_FEATURES} ${key} PARENT_SCOPE)
endfunction()

# --- The features, by what the backends' code calls.
ipc_feature(pipe2 TEXT "pipe2"
  SYMBOLS pipe2 HEADERS fcntl.h unistd.h)
ipc_feature(seqpacket TEXT "SOCK_SEQPACKET (with SOCK_CLOEXEC and accept4)"
  SOURCE [[
#include <sys/socket.h>
#include <sys/un.h>
int main(void)
{
    int fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    return accept4(fd, 0, 0, SOCK_CLOEXEC) + MSG_CMSG_CLOEXEC;
}]])
ipc_feature(peercred TEXT "SO_PEERCRED"
  SOURCE [[
#include <sys/socket.h>
int main(void)
{
    struct ucred c;
    socklen_t n = sizeof c;
    return getsockopt(0, SOL_SOCKET, SO_PEERCRED, &c, &n) + (int)c.uid;
}]])
ipc_feature(epoll TEXT "epoll"
  SYMBOLS epoll_create1 epoll_ctl epoll_wait HEADERS sys/epoll.h)
# A kernel feature, not a library one: Linux has it, other systems do not.
ipc_feature(abstract_socket TEXT "the abstract socket namespace (Linux)"
  SOURCE [[
#ifndef __linux__
#error not Linux
#endif
int main(void) { return 0; }]])
ipc_feature(mkfifo TEXT "mkfifo and flock"
  SYMBOLS mkfifo flock HEADERS sys/stat.h sys/file.h)
ipc_feature(mq_open TEXT "mq_open (libc or librt)"
  SYMBOLS mq_open mq_timedsend mq_timedreceive HEADERS mqueue.h)
ipc_feature(msgget TEXT "msgget"
  SYMBOLS msgget msgsnd msgrcv HEADERS sys/msg.h)
ipc_feature(shm_open TEXT "shm_open (libc or librt) and posix_fallocate"
  SYMBOLS shm_open posix_fallocate HEADERS sys/mman.h fcntl.h)
ipc_feature(memfd_create TEXT "memfd_create with F_ADD_SEALS"
  SOURCE [[
#include <fcntl.h>
#include <sys/mman.h>
int main(void)
{
    int fd = memfd_create("x", MFD_CLOEXEC | MFD_ALLOW_SEALING);
    return fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL);
}]])
# Per-call non-blocking reads and writes on a blocking descriptor: pipe and
# fifo ends then sleep inside read() when a receive may wait forever (one
# system call where poll() and a retry took three). Linux 5.x+ for pipes;
# without it (or on a kernel that refuses it: stream.c) ends stay
# O_NONBLOCK, as before.
ipc_feature(rwf_nowait TEXT "preadv2/pwritev2 with RWF_NOWAIT"
  SOURCE [[
#include <sys/uio.h>
int main(void)
{
    struct iovec v = {0, 0};
    return (int)preadv2(0, &v, 1, -1, RWF_NOWAIT) +
           (int)pwritev2(1, &v, 1, -1, RWF_NOWAIT);
}]])
# sem_clockwait (glibc 2.30): timed waits of sem: objects on CLOCK_MONOTONIC;
# without it (musl) sync/posix.c waits in 50 ms slices of sem_timedwait.
ipc_feature(sem_clockwait TEXT "sem_clockwait"
  SYMBOLS sem_clockwait HEADERS semaphore.h)
# SYS_futex, not SYS_futex_time64: 32-bit systems with a 64-bit time_t
# have only the latter.
ipc_feature(futex TEXT "the futex system call (SYS_futex, linux/futex.h)"
  SOURCE [[
#include <linux/futex.h>
#include <stdint.h>
#include <sys/syscall.h>
#include <unistd.h>
int main(void)
{
    uint32_t w = 0;
    return (int)syscall(SYS_futex, &w, FUTEX_WAKE_BITSET, 1, 0, 0,
                        FUTEX_BITSET_MATCH_ANY);
}]])

# nng, a library (Debian libnng-dev): its CMake package, else the library
# and header by name. IPC_NNG_LIBRARY is what the library links when the
# nng backend is built (the top-level CMakeLists.txt, cmake/Packaging.cmake).
option(IPC_WITH_NNG "Build the nng backend (scheme nng+URL)" ON)
set(IPC_NNG_LIBRARY IPC_NNG_LIBRARY-NOTFOUND)
if(IPC_WITH_NNG AND NOT nng IN_LIST IPC_FORCE_MISSING)
  find_package(nng CONFIG QUIET)
  if(TARGET nng::nng)
    set(IPC_NNG_LIBRARY nng::nng)
  else()
    find_library(IPC_NNG_PATH nng)
    find_path(IPC_NNG_INCLUDE nng/nng.h)
    # A path, not an imported target: the exported libipc::ipc_static
    # then names the file, and consumers need no find_dependency.
    if(IPC_NNG_PATH AND IPC_NNG_INCLUDE)
      set(IPC_NNG_LIBRARY ${IPC_NNG_PATH})
    endif()
  endif()
endif()
ipc_feature(nng TEXT "the nng library (libnng-dev)"
  LIBRARIES ${IPC_NNG_LIBRARY}
  SOURCE [[
#include <nng/nng.h>
#include <nng/protocol/pipeline0/pull.h>
#include <nng/protocol/pipeline0/push.h>
int main(void)
{
    nng_socket s;
    return nng_push0_open(&s) + nng_pull0_open(&s) +
           nng_socket_get_int(s, NNG_OPT_RECVFD, 0);
}]])

set(IPC_SOURCES "")
set(IPC_BACKENDS "")
set(IPC_BACKEND_DEFINITIONS "")
set(IPC_BACKENDS_H "")
set(IPC_BUILT_OUT "") # schemes built out, each with IPC_BUILT_OUT_WHY_<scheme>
set(IPC_CUT_FORMS "") # forms cut ("unix:@"), each with IPC_CUT_WHY_<form>

function(ipc_backend_known feature)
  string(TOUPPER ${feature} F)
  if(NOT DEFINED IPC_HAVE_${F})
    message(FATAL_ERROR "ipc_backend: unknown feature ${feature} (no ipc_feature line)")
  endif()
endfunction()

# ipc_backend(NAME <scheme> SOURCES <file or folder>... DOC <text>
#             [REQUIRES <feature>...] [CUTS <feature> <form>]...)
# A folder in SOURCES stands for every .c file in it.
function(ipc_backend)
  cmake_parse_arguments(PARSE_ARGV 0 B "" "NAME;DOC" "SOURCES;REQUIRES;CUTS")
  string(TOUPPER ${B_NAME} NAME)
  option(IPC_WITH_${NAME} "Build the ${B_DOC} backend (scheme ${B_NAME}:)" ON)
  set(missing "")
  foreach(f IN LISTS B_REQUIRES)
    ipc_backend_known(${f})
    string(TOUPPER ${f} F)
    if(NOT IPC_HAVE_${F})
      list(APPEND missing "${IPC_FEATURE_TEXT_${f}}")
    endif()
  endforeach()
  if(NOT IPC_WITH_${NAME})
    set(why "built without the ${B_NAME} backend (IPC_WITH_${NAME}=OFF)")
  elseif(missing)
    list(JOIN missing ", " missing)
    set(why "built without ${B_NAME}: ${missing} not found")
  else()
    set(why "")
  endif()
  set(cuts "")
  while(B_CUTS)
    list(POP_FRONT B_CUTS f form)
    ipc_backend_known(${f})
    string(TOUPPER ${f} F)
    if(NOT IPC_HAVE_${F} AND why STREQUAL "")
      list(APPEND cuts "${B_NAME}:${form}name")
      list(APPEND IPC_CUT_FORMS ${B_NAME}:${form})
      set(IPC_CUT_WHY_${B_NAME}:${form}
          "built without ${B_NAME}:${form}name: ${IPC_FEATURE_TEXT_${f}} not found"
          PARENT_SCOPE)
    endif()
  endwhile()

  if(why STREQUAL "")
    set(built 1)
    foreach(src IN LISTS B_SOURCES)
      if(IS_DIRECTORY ${PROJECT_SOURCE_DIR}/${src})
        file(GLOB more CONFIGURE_DEPENDS ${PROJECT_SOURCE_DIR}/${src}/*.c)
        list(APPEND IPC_SOURCES ${more})
      else()
        list(APPEND IPC_SOURCES ${src})
      endif()
    endforeach()
    list(APPEND IPC_BACKENDS ${B_NAME})
    if(cuts)
      message(STATUS "libipc: ${B_NAME}: built, without ${cuts}")
    else()
      message(STATUS "libipc: ${B_NAME}: built")
    endif()
  else()
    set(built 0)
    # Read as OFF from here on (tests/ adds no tests for it); the cache
    # keeps the user's choice.
    set(IPC_WITH_${NAME} OFF PARENT_SCOPE)
    list(APPEND IPC_BUILT_OUT ${B_NAME})
    set(IPC_BUILT_OUT_WHY_${B_NAME} "${why}" PARENT_SCOPE)
    message(STATUS "libipc: ${B_NAME}: ${why}")
  endif()
  string(REPLACE "\"" "\\\"" cwhy "${why}")
  string(APPEND IPC_BACKENDS_H "IPC_BACKEND(${B_NAME}, ${built}, \"${cwhy}\")\n")
  list(APPEND IPC_BACKEND_DEFINITIONS IPC_WITH_${NAME}=${built})
  foreach(v IPC_SOURCES IPC_BACKENDS IPC_BACKEND_DEFINITIONS IPC_BACKENDS_H
            IPC_BUILT_OUT IPC_CUT_FORMS)
    set(${v} "${${v}}" PARENT_SCOPE)
  endforeach()
endfunction()

# --- The backends, in registry order (ipc_scheme(i) lists them so).
ipc_backend(NAME pipe SOURCES src/backend/pipe.c
  DOC "anonymous pipe" REQUIRES pipe2)
ipc_backend(NAME unix SOURCES src/backend/unix
  DOC "UNIX domain socket" REQUIRES seqpacket peercred epoll
  CUTS abstract_socket @)
ipc_backend(NAME fifo SOURCES src/backend/fifo.c
  DOC "named pipe (FIFO)" REQUIRES mkfifo)
ipc_backend(NAME mq SOURCES src/backend/posixmq/posixmq.c src/backend/posixmq/senders.c
  DOC "POSIX message queue" REQUIRES mq_open)
ipc_backend(NAME sysv SOURCES src/backend/sysvmq.c
  DOC "System V message queue" REQUIRES msgget)
ipc_backend(NAME shm
  SOURCES src/backend/shmring
  DOC "POSIX shared-memory ring"
  REQUIRES shm_open memfd_create futex seqpacket)
ipc_backend(NAME tcp SOURCES src/backend/tcp.c
  DOC "TCP socket (no encryption, no authentication)" REQUIRES epoll)
ipc_backend(NAME udp SOURCES src/backend/udp.c
  DOC "UDP datagrams (lossy; no encryption, no authentication)")
ipc_backend(NAME nng SOURCES src/backend/nng
  DOC "nng push/pull (tcp, ipc, ws, tls+tcp)" REQUIRES nng epoll)

# Every feature as IPC_HAVE_<FEATURE>=0/1, for code that does without one.
foreach(f IN LISTS IPC_FEATURES)
  string(TOUPPER ${f} F)
  list(APPEND IPC_BACKEND_DEFINITIONS IPC_HAVE_${F}=${IPC_HAVE_${F}})
endforeach()

set(IPC_GENERATED_DIR ${PROJECT_BINARY_DIR}/generated)
file(CONFIGURE OUTPUT ${IPC_GENERATED_DIR}/ipc_backends.h
  CONTENT "/* Generated by cmake/Backends.cmake: do not edit. */
/* IPC_BACKEND(scheme, built in, why built out), in registry order. */
${IPC_BACKENDS_H}" @ONLY)
