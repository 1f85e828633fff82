# Runs inside cpack (CPACK_PRE_BUILD_SCRIPTS) after `cmake --install` filled the staging
# trees, one per component (CPACK_DEB_COMPONENT_INSTALL: TEMP/server for cppicorn, TEMP/python3
# for cppicorn-python3), and before dpkg-deb packs them: makes each tree what a Debian package
# must contain.
cmake_policy(VERSION 3.25)  # IN_LIST, and whatever else a CPack script does not get by default
set(top "${CPACK_TEMPORARY_DIRECTORY}")
set(src "${CPACK_CPPICORN_SOURCE_DIR}")
set(server "${top}/server")
set(python3 "${top}/python3")
if(NOT IS_DIRECTORY "${server}/usr")
  message(FATAL_ERROR "stage.cmake: no staging tree at '${server}'")
endif()
set(trees server)
if("python3" IN_LIST CPACK_COMPONENTS_ALL)
  list(APPEND trees python3)
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
  if(NOT EXISTS "${server}/${f}")
    message(FATAL_ERROR "stage.cmake: ${f} is not in the server's staging tree")
  endif()
endforeach()
file(GLOB examples "${server}/usr/lib/cppicorn/examples/*.so")
if(NOT examples)
  message(FATAL_ERROR "stage.cmake: no example apps in usr/lib/cppicorn/examples "
    "(configure with -DCMAKE_INSTALL_LIBDIR=lib, as packaging/build-deb does)")
endif()

# cppicorn-python3 takes the Python side by path, whatever component its install rule named:
# everything in usr/lib/cppicorn but the examples (the plugins: wsgi.so, and whatever else the
# plugin grows, a python*/ directory of its modules...) and the Python examples. Native
# support lives in bin/cppicorn, so nothing native is there.
if("python3" IN_LIST trees)
  file(GLOB moved LIST_DIRECTORIES TRUE RELATIVE "${server}"
       "${server}/usr/lib/cppicorn/*" "${server}/usr/lib/cppicorn/examples/*.py")
  list(REMOVE_ITEM moved usr/lib/cppicorn/examples)
  foreach(f ${moved})
    if(EXISTS "${python3}/${f}")
      message(FATAL_ERROR "stage.cmake: ${f} is installed by both components")
    endif()
    get_filename_component(dir "${python3}/${f}" DIRECTORY)
    file(MAKE_DIRECTORY "${dir}")
    file(RENAME "${server}/${f}" "${python3}/${f}")
  endforeach()
  file(GLOB plugins "${python3}/usr/lib/cppicorn/*.so")
  if(NOT plugins)
    message(FATAL_ERROR "stage.cmake: no Python plugin (usr/lib/cppicorn/*.so) for cppicorn-python3")
  endif()
endif()

# The rest is done to each package's tree alike.
foreach(comp ${trees})
  set(root "${top}/${comp}")
  string(TOUPPER "${comp}" upper)
  set(package "${CPACK_DEBIAN_${upper}_PACKAGE_NAME}")

  # Units: to the directory systemd's pkg-config names (Debian 12: /lib/systemd/system).
  string(REGEX REPLACE "^/+" "" unitdir "${CPACK_CPPICORN_UNITDIR}")
  file(GLOB units "${root}/usr/lib/systemd/system/*")
  if(units AND NOT unitdir STREQUAL "usr/lib/systemd/system")
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

  # /usr/share/doc/PACKAGE: copyright and the Debian changelog (one source, one changelog).
  set(doc "${root}/usr/share/doc/${package}")
  file(MAKE_DIRECTORY "${doc}")
  file(COPY_FILE "${src}/copyright" "${doc}/copyright")
  file(COPY_FILE "${src}/changelog" "${doc}/changelog.Debian")
  execute_process(COMMAND gzip -9nf "${doc}/changelog.Debian" RESULT_VARIABLE rc)
  if(rc)
    message(FATAL_ERROR "gzip changelog.Debian failed")
  endif()
  # lintian overrides, each justified in its file (packaging/PACKAGE.lintian-overrides).
  if(EXISTS "${src}/${package}.lintian-overrides")
    file(MAKE_DIRECTORY "${root}/usr/share/lintian/overrides")
    file(COPY_FILE "${src}/${package}.lintian-overrides"
         "${root}/usr/share/lintian/overrides/${package}")
  endif()

  # ELF files lose .comment (compiler versions), as dh_strip does: CPack's strip keeps it.
  file(GLOB_RECURSE files "${root}/*")
  foreach(f ${files})
    if(NOT IS_SYMLINK "${f}")
      file(READ "${f}" magic LIMIT 4 HEX)
      if(magic STREQUAL "7f454c46")
        execute_process(COMMAND objcopy --remove-section=.comment "${f}" RESULT_VARIABLE rc)
        if(rc)
          message(FATAL_ERROR "objcopy --remove-section=.comment ${f} failed")
        endif()
      endif()
    endif()
  endforeach()

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
endforeach()
