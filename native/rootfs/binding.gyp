{
  # The rootfs confinement addon (rootfs.c; idmap.c: idmapped mounts; notify.c: sd_notify for the service; hostmount.c: live bind mounts, growing a layer's XFS; seqpacket.c: conmon's attach socket). Plain C against node_api.h: no npm
  # dependencies; built by scripts/build-native.sh with node-gyp --nodedir.
  "targets": [
    {
      "target_name": "rootfs",
      "sources": ["rootfs.c", "idmap.c", "notify.c", "hostmount.c", "seqpacket.c"],
      "defines": ["NAPI_VERSION=8", "_GNU_SOURCE"],
      "cflags": [
        "-std=gnu11", "-Wall", "-Wextra", "-Wno-unused-parameter",
        "-fstack-protector-strong", "-U_FORTIFY_SOURCE", "-D_FORTIFY_SOURCE=2"
      ]
    }
  ]
}
