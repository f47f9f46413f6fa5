# dynalloc-config.cmake — what find_package(dynalloc) reads, installed in
# PREFIX/lib/cmake/dynalloc.  Imported targets:
#   dynalloc::dynalloc                libdynalloc.so: malloc, free … are dynalloc's
#   dynalloc::dynalloc-prefix         libdynalloc-prefix.so: only the da_ names
#   dynalloc::dynalloc-static         libdynalloc.a
#   dynalloc::dynalloc-prefix-static  libdynalloc-prefix.a
# Paths are found from this file's own place (three directories up is the
# prefix), so an installed tree that is moved or unpacked elsewhere still works.
get_filename_component(_dynalloc_prefix "${CMAKE_CURRENT_LIST_DIR}/../../.." ABSOLUTE)
include(CMakeFindDependencyMacro)
find_dependency(Threads)
foreach(_dynalloc_lib IN ITEMS dynalloc dynalloc-prefix)
  if(NOT TARGET dynalloc::${_dynalloc_lib})
    add_library(dynalloc::${_dynalloc_lib} SHARED IMPORTED)
    set_target_properties(dynalloc::${_dynalloc_lib} PROPERTIES
      IMPORTED_LOCATION "${_dynalloc_prefix}/lib/lib${_dynalloc_lib}.so"
      IMPORTED_SONAME "lib${_dynalloc_lib}.so"
      INTERFACE_INCLUDE_DIRECTORIES "${_dynalloc_prefix}/include"
      INTERFACE_LINK_LIBRARIES Threads::Threads)
  endif()
  if(NOT TARGET dynalloc::${_dynalloc_lib}-static)
    add_library(dynalloc::${_dynalloc_lib}-static STATIC IMPORTED)
    set_target_properties(dynalloc::${_dynalloc_lib}-static PROPERTIES
      IMPORTED_LOCATION "${_dynalloc_prefix}/lib/lib${_dynalloc_lib}.a"
      INTERFACE_INCLUDE_DIRECTORIES "${_dynalloc_prefix}/include"
      INTERFACE_LINK_LIBRARIES Threads::Threads)
  endif()
endforeach()
unset(_dynalloc_lib)
unset(_dynalloc_prefix)
