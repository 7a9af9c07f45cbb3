{
  "targets": [
    {
      "target_name": "seine_native",
      "sources": ["netlink.c"],
      "cflags": ["-O2", "-Wall", "-Wextra", "-std=gnu11"],
      "defines": ["NAPI_VERSION=8"]
    }
  ]
}
