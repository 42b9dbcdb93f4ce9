# What `cmake --install` puts in place, under the GNU install directories, and
# the Debian package that cpack builds from it (scripts/package.sh). The
# static library and the headers under include/ are the CLI's and the tests'
# (the portal's later): not installed, not an API yet (docs/packaging.md).
include(GNUInstallDirs)
install(TARGETS p11enroll RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})

# Compressed, as Debian policy wants; gzip -n keeps no timestamp (reproducible).
find_program(GZIP_PROGRAM gzip REQUIRED)
set(P11E_DIST ${CMAKE_BINARY_DIR}/dist)
file(MAKE_DIRECTORY ${P11E_DIST})
foreach(src docs/p11enroll.1 contrib/debian/changelog)
  get_filename_component(name ${src} NAME)
  add_custom_command(OUTPUT ${P11E_DIST}/${name}.gz
    COMMAND ${GZIP_PROGRAM} -9n < ${PROJECT_SOURCE_DIR}/${src} > ${P11E_DIST}/${name}.gz
    DEPENDS ${PROJECT_SOURCE_DIR}/${src})
  list(APPEND P11E_DIST_FILES ${P11E_DIST}/${name}.gz)
endforeach()
add_custom_target(dist_files ALL DEPENDS ${P11E_DIST_FILES})

install(FILES ${P11E_DIST}/p11enroll.1.gz DESTINATION ${CMAKE_INSTALL_MANDIR}/man1)
install(FILES contrib/bash-completion/p11enroll
        DESTINATION ${CMAKE_INSTALL_DATADIR}/bash-completion/completions)
install(FILES contrib/config.example.json DESTINATION ${CMAKE_INSTALL_DOCDIR}/examples
        RENAME config.json)
# The PostgreSQL store's grants for a fleet's roles (docs/fleet.md).
install(FILES contrib/postgresql/roles.sql DESTINATION ${CMAKE_INSTALL_DOCDIR}/examples/postgresql)
install(FILES softhsm-conf/softhsm2.conf.in softhsm-conf/README.md
        DESTINATION ${CMAKE_INSTALL_DATADIR}/p11enroll/softhsm-conf)
install(FILES contrib/debian/copyright DESTINATION ${CMAKE_INSTALL_DOCDIR})
# systemd units: pkg-config systemd's systemdsystemunitdir when it lies under
# the install prefix, else lib/systemd/system under it. Debian 12's
# systemd.pc says /lib/systemd/system, outside prefix /usr: its lintian calls
# that an odd location (an error) and /usr/lib/systemd/system canonical, and
# an absolute path would escape `cmake --install --prefix`.
set(P11E_UNIT_DIR lib/systemd/system)
find_package(PkgConfig QUIET)
if(PKG_CONFIG_FOUND)
  pkg_get_variable(P11E_SYSTEMD_UNIT_DIR systemd systemdsystemunitdir)
  string(FIND "${P11E_SYSTEMD_UNIT_DIR}" "${CMAKE_INSTALL_PREFIX}/" P11E_AT)
  if(P11E_SYSTEMD_UNIT_DIR AND P11E_AT EQUAL 0)
    file(RELATIVE_PATH P11E_UNIT_DIR ${CMAKE_INSTALL_PREFIX} ${P11E_SYSTEMD_UNIT_DIR})
  endif()
endif()
# The portal's unit (`p11enroll serve`): installed, not enabled (docs/portal.md).
# The renewal timer and its service (`renew --all` daily): installed, not
# enabled (docs/packaging.md).
install(FILES contrib/p11enroll-portal.service contrib/p11enroll-renew.service
        contrib/p11enroll-renew.timer DESTINATION ${P11E_UNIT_DIR})
install(FILES ${P11E_DIST}/changelog.gz DESTINATION ${CMAKE_INSTALL_DOCDIR}
        RENAME changelog.Debian.gz)

# cpack -G DEB (scripts/package.sh): dependencies computed by dpkg-shlibdeps
# from the binary, plus what it opens at run time, which no scan sees:
# libcurl, libldap and libpq (dlopen'd: src/util/http.c, src/publish/publish_ldap.c,
# src/store/store_pg.c)
# and p11-kit-proxy.so, the default module.
set(CPACK_GENERATOR DEB)
set(CPACK_PACKAGE_NAME p11enroll)
set(CPACK_PACKAGE_VERSION ${PROJECT_VERSION})
set(CPACK_DEBIAN_PACKAGE_RELEASE 1)
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_PACKAGE_CONTACT "p11enroll maintainers <maintainers@p11enroll.org>")
set(CPACK_DEBIAN_PACKAGE_SECTION admin)
set(CPACK_DEBIAN_PACKAGE_PRIORITY optional)
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY "certificate enrollment onto PKCS#11 tokens")
# The extended description only: cpack puts the summary first itself.
set(CPACK_DEBIAN_PACKAGE_DESCRIPTION
  "p11enroll generates a key inside a smartcard, HSM or software token
(sensitive, never extractable), has the CSR signed on the token, gets it
certified by a CA (embedded, CFSSL, ACME, SCEP or DigiCert) and writes the
certificate and its chain back under the key's CKA_ID. Every step is
recorded, so a rerun after a crash resumes without a second key. Keys made
in software are delivered as PKCS#12 files whose generated password is
escrowed in a vault.")
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
set(CPACK_DEBIAN_PACKAGE_DEPENDS "libcurl4 (>= 7.80.0), libldap-2.5-0, libpq5, p11-kit-modules")
set(CPACK_DEBIAN_PACKAGE_RECOMMENDS "bash-completion")
set(CPACK_DEBIAN_PACKAGE_SUGGESTS "softhsm2, opensc")
set(CPACK_DEBIAN_PACKAGE_CONTROL_STRICT_PERMISSION ON)
set(CPACK_STRIP_FILES ON)
set(CPACK_PACKAGING_INSTALL_PREFIX ${CMAKE_INSTALL_PREFIX})
include(CPack)
