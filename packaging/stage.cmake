# Runs inside cpack (CPACK_PRE_BUILD_SCRIPTS) after `cmake --install` filled the staging
# tree and before dpkg-deb packs it: makes the tree what a Debian package must contain.
set(root "${CPACK_TEMPORARY_DIRECTORY}")
set(src "${CPACK_CPPICORN_SOURCE_DIR}")
if(NOT IS_DIRECTORY "${root}/usr")
  message(FATAL_ERROR "stage.cmake: no staging tree at '${root}'")
endif()

# A tree configured for another prefix installs its examples elsewhere and names them so in
# hello.yaml; refuse rather than ship a config pointing at /usr/local.
if(NOT CPACK_CPPICORN_CONFIGURED_PREFIX STREQUAL "/usr")
  message(FATAL_ERROR "The .deb must be built from a tree configured with "
    "-DCMAKE_INSTALL_PREFIX=/usr (this one has '${CPACK_CPPICORN_CONFIGURED_PREFIX}'): "
    "use packaging/build-deb")
endif()

# packaging/changelog's newest entry must be this version.
file(STRINGS "${src}/changelog" head LIMIT_COUNT 1)
if(NOT head MATCHES "^cppicorn \\(${CPACK_CPPICORN_DEB_VERSION}\\) ")
  message(FATAL_ERROR "packaging/changelog: the newest entry is '${head}', not version "
    "${CPACK_CPPICORN_DEB_VERSION}; add an entry for it")
endif()

# What the package must hold; a missing one means the install rules changed.
foreach(f usr/bin/cppicorn usr/include/cppicorn/app.h usr/include/cppicorn/app.hpp
          usr/lib/systemd/system/cppicorn@.service usr/lib/systemd/system/cppicorn@.socket
          usr/lib/sysusers.d/cppicorn.conf etc/cppicorn/hello.yaml
          usr/share/man/man1/cppicorn.1 usr/share/man/man1/cppicorn-ctl.1
          usr/share/man/man5/cppicorn.yaml.5)
  if(NOT EXISTS "${root}/${f}")
    message(FATAL_ERROR "stage.cmake: ${f} is not in the staging tree")
  endif()
endforeach()
file(GLOB examples "${root}/usr/lib/cppicorn/examples/*.so")
if(NOT examples)
  message(FATAL_ERROR "stage.cmake: no example apps in usr/lib/cppicorn/examples "
    "(configure with -DCMAKE_INSTALL_LIBDIR=lib, as packaging/build-deb does)")
endif()

# Units: to the directory systemd's pkg-config names (Debian 12: /lib/systemd/system).
string(REGEX REPLACE "^/+" "" unitdir "${CPACK_CPPICORN_UNITDIR}")
if(NOT unitdir STREQUAL "usr/lib/systemd/system")
  file(GLOB units "${root}/usr/lib/systemd/system/*")
  file(MAKE_DIRECTORY "${root}/${unitdir}")
  foreach(u ${units})
    get_filename_component(name "${u}" NAME)
    file(RENAME "${u}" "${root}/${unitdir}/${name}")
  endforeach()
  # the directories the move emptied
  foreach(d usr/lib/systemd/system usr/lib/systemd)
    file(GLOB left "${root}/${d}/*")
    if(NOT left)
      file(REMOVE_RECURSE "${root}/${d}")
    endif()
  endforeach()
endif()

# Man pages: gzip -9n (no name, no time stamp: the same bytes on every build).
file(GLOB_RECURSE pages "${root}/usr/share/man/*")
foreach(p ${pages})
  if(NOT p MATCHES "\\.gz$")
    execute_process(COMMAND gzip -9nf "${p}" RESULT_VARIABLE rc)
    if(rc)
      message(FATAL_ERROR "gzip ${p} failed")
    endif()
  endif()
endforeach()

# /usr/share/doc/cppicorn: copyright and the Debian changelog.
set(doc "${root}/usr/share/doc/cppicorn")
file(MAKE_DIRECTORY "${doc}")
file(COPY_FILE "${src}/copyright" "${doc}/copyright")
file(COPY_FILE "${src}/changelog" "${doc}/changelog.Debian")
execute_process(COMMAND gzip -9nf "${doc}/changelog.Debian" RESULT_VARIABLE rc)
if(rc)
  message(FATAL_ERROR "gzip changelog.Debian failed")
endif()

# Modes as Debian wants them, whatever the umask of the build was: directories 0755,
# files 0644 (shared objects too, as dh_fixperms does), programs in /usr/bin 0755.
file(GLOB_RECURSE all LIST_DIRECTORIES TRUE "${root}/*")
foreach(f ${all})
  if(IS_SYMLINK "${f}")
    continue()
  elseif(IS_DIRECTORY "${f}")
    file(CHMOD "${f}" DIRECTORY_PERMISSIONS OWNER_READ OWNER_WRITE OWNER_EXECUTE
         GROUP_READ GROUP_EXECUTE WORLD_READ WORLD_EXECUTE)
  elseif(f MATCHES "/usr/bin/[^/]+$")
    file(CHMOD "${f}" PERMISSIONS OWNER_READ OWNER_WRITE OWNER_EXECUTE
         GROUP_READ GROUP_EXECUTE WORLD_READ WORLD_EXECUTE)
  else()
    file(CHMOD "${f}" PERMISSIONS OWNER_READ OWNER_WRITE GROUP_READ WORLD_READ)
  endif()
endforeach()
