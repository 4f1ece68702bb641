{
  # The rootfs confinement addon (rootfs.c; idmap.c: idmapped mounts; seqpacket.c: conmon's attach socket). Plain C against node_api.h: no npm
  # dependencies; built by scripts/build-native.sh with node-gyp --nodedir.
  "targets": [
    {
      "target_name": "rootfs",
      "sources": ["rootfs.c", "idmap.c", "seqpacket.c"],
      "defines": ["NAPI_VERSION=8", "_GNU_SOURCE"],
      "cflags": [
        "-std=gnu11", "-Wall", "-Wextra", "-Wno-unused-parameter",
        "-fstack-protector-strong", "-U_FORTIFY_SOURCE", "-D_FORTIFY_SOURCE=2"
      ]
    }
  ]
}
