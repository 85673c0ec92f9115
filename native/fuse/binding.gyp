{
  "targets": [
    {
      "target_name": "quorumfs_fuse",
      "sources": [
        "src/session.c",
        "src/requests.c",
        "src/replies.c",
        "src/notify.c"
      ],
      "include_dirs": [
        "<!@(pkg-config --cflags-only-I fuse3 | sed -e 's/-I//g')"
      ],
      "libraries": [
        "<!@(pkg-config --libs fuse3)"
      ],
      "defines": ["NAPI_VERSION=8", "_GNU_SOURCE"],
      "cflags": ["-std=gnu11", "-Wall", "-Wextra", "-Wno-unused-parameter", "-fvisibility=hidden"],
      "cflags!": ["-fno-exceptions"],
      "conditions": [
        ["OS!='linux'", { "type": "none" }]
      ]
    }
  ]
}
