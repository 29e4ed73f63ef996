#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
# Writes the seed corpora in corpus/<target>/ (committed; run again only to
# change the seeds). Fuzzing finds more; these give it the shapes to start.
import os, struct

HERE = os.path.dirname(os.path.abspath(__file__))
MAGIC = 0x31435049

def put(target, name, data):
    d = os.path.join(HERE, "corpus", target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)

def hdr(length, prio=0, magic=MAGIC):
    return struct.pack("<IIQ", magic, prio, length)

addrs = {
    "pipe": b"pipe:", "pipe_opts": b"pipe:?max_msg=4096",
    "pipe_fd": b"pipe:?fd=3&max_msg=65536",
    "unix_path": b"unix:/tmp/ipc-x?mode=0600",
    "unix_abstract": b"unix:@name?peer_uid=0&max_msg=1024",
    "fifo": b"fifo:/tmp/f?capacity=8", "mq": b"mq:/q?capacity=10&max_msg=8192",
    "sysv_key": b"sysv:0x1234abcd", "sysv_path": b"sysv:/tmp/k",
    "shm": b"shm:/ring?capacity=64&max_msg=65536",
    "empty": b"", "colon": b":", "noscheme": b"/tmp/x", "upper": b"UNIX:/a",
    "unknown_key": b"unix:/a?bogus=1", "bad_octal": b"unix:/a?mode=0999",
    "no_value": b"unix:/a?max_msg=", "trailing_amp": b"unix:/a?max_msg=1&",
    "twice": b"unix:/a?max_msg=1&max_msg=2", "ctl": b"unix:/a\x01b",
    "overflow": b"pipe:?capacity=18446744073709551616",
    "long_name": b"unix:/" + b"a" * 200, "nul": b"pipe:\x00?max_msg=1",
}
for k, v in addrs.items():
    put("addr", k, v)

frames = {
    "empty_msg": hdr(0), "five": hdr(5) + b"\0" * 8,
    "max": hdr(65536) + struct.pack("<Q", 65536),
    "over": hdr(65537) + struct.pack("<Q", 65536),
    "bad_magic": hdr(4, magic=0x31435050), "prio255": hdr(1, 255),
    "prio256": hdr(1, 256), "huge": struct.pack("<IIQ", MAGIC, 0, 2**64 - 1),
    "small_max": hdr(9) + struct.pack("<Q", 8),
}
for k, v in frames.items():
    put("frame", k, v)

def cfg(max_msg, cap_choice, chunk_choice):
    return struct.pack("<HBB", max_msg, cap_choice, chunk_choice)

three = hdr(3, 1) + b"abc" + hdr(0) + hdr(10, 7) + b"0123456789"
streams = {
    "three_whole": cfg(100, 1, 96) + three,
    "three_bytewise": cfg(100, 1, 0) + three,
    "small_buffer": cfg(100, 4, 2) + three,
    "truncated_payload": cfg(100, 1, 5) + three + hdr(50) + b"short",
    "truncated_header": cfg(100, 1, 3) + three + hdr(5)[:9],
    "garbage_after": cfg(100, 1, 7) + three + b"GARBAGE-GARBAGE!" + three,
    "too_long": cfg(8, 1, 16) + hdr(3) + b"abc" + hdr(9) + b"x" * 9,
    "bad_prio": cfg(100, 1, 16) + hdr(1, 300) + b"x",
    "many_empty": cfg(1, 0, 1) + hdr(0) * 40,
    "big": cfg(4095, 1, 96) + hdr(4000, 2) + bytes(range(256)) * 15 + b"x" * 160,
}
for k, v in streams.items():
    put("stream", k, v)
