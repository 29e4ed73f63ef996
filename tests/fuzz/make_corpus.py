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
    "tcp_nodelay": b"tcp:127.0.0.1:5555?nodelay=0&max_msg=64",
    "nodelay_2": b"x:x?nodelay=2", "regress_nodelay_1": b"x:x?nodelay=1",
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

# shm_ring: [config] then operations (tests/fuzz/fuzz_shm_ring.c, fz_step).
# config: capacity 1 + (c & 7), max_msg (8, 64, 100, 1000)[c >> 3 & 3],
# a pair when c & 0x20.
SEND, RECV, LOAN, COMMIT, RELEASE, VIEW, UNVIEW = range(7)
FIELD, STATE, PEER, WORD, REOPEN, UNLINK, POLL = range(7, 14)
F = {n: i for i, n in enumerate(
    "magic version ready creator_pid hdr_size slot_size slot_count max_msg "
    "map_size tail head rx_wake tx_wake n_tx n_rx unlinked rx_seen "
    "tx_seen".split())}
# then peer entry i's word, start, bell (len(F) + 3i + 0, 1, 2)
BELL = len(F) + 2
SLOTS = len(F) + 12 # then slot k's state (SLOTS + 2k), length (SLOTS + 2k + 1)

def ring(cap, max_idx, pair=False):
    return bytes([(cap - 1) | max_idx << 3 | (0x20 if pair else 0)])

def field(f, v):
    return bytes([FIELD, f]) + struct.pack("<Q", v % 2**64)

def state(slot, kind, delta, owner):
    return bytes([STATE, slot, kind, delta & 0xff, owner])

def ops(*o):
    return b"".join(bytes(x) if isinstance(x, (list, tuple)) else x for x in o)

fill = ops(*[[SEND, 5 + i] for i in range(5)], *[[RECV, 255]] * 5)
zero_copy = ops([LOAN, 10], [LOAN, 20], [SEND, 5], [COMMIT, 0], [RELEASE, 0],
                [RECV, 255], [RECV, 255], [RECV, 255])
views = ops([SEND, 3], [SEND, 4], [VIEW], [VIEW], [RECV, 255], [UNVIEW, 0],
            [UNVIEW, 0], [SEND, 6], [RECV, 2], [RECV, 255])
rings = {
    "fill_drain": ring(4, 0) + fill,
    "fill_drain_pair": ring(4, 0, True) + fill,
    "zero_copy": ring(4, 1) + zero_copy,
    "zero_copy_pair": ring(3, 2, True) + zero_copy,
    "views": ring(2, 1) + views,
    "too_long": ring(1, 3) + ops([SEND, 255], [LOAN, 255], [SEND, 254],
                                 [RECV, 10], [RECV, 255]),
    "tail_far": ring(4, 1) + ops([SEND, 1], field(F["tail"], 1000), [SEND, 1],
                                 [RECV, 255], [SEND, 1]),
    "head_back": ring(4, 1) + ops([SEND, 1], [RECV, 255],
                                  field(F["head"], -5), [RECV, 255]),
    "len_huge": ring(4, 1) + ops([SEND, 8], field(SLOTS + 1, 2**32 - 1),
                                 [RECV, 255], [VIEW]),
    "writer_dead": ring(4, 1) + ops(state(0, 1, 0, 9), [SEND, 1], [RECV, 255],
                                    [PEER, 9, 0x2a, 200], [RECV, 255]),
    "reader_dead": ring(2, 1) + ops([SEND, 1], [SEND, 1], [RECV, 255],
                                    state(0, 3, -1, 7), [SEND, 1]),
    "skip_head": ring(2, 1) + ops(state(0, 2, 0, 1), [SEND, 2], [SEND, 2],
                                  [RECV, 255]),
    "peers_garbage": ring(4, 1) + ops([PEER, 0, 0x8a], [PEER, 1, 0x55, 3],
                                      [REOPEN, 0], [SEND, 1], [REOPEN, 1]),
    "counts": ring(4, 1, True) + ops(field(F["n_rx"], 0), [SEND, 1],
                                     field(F["n_tx"], 0), [RECV, 255]),
    "wake_words": ring(4, 1) + ops(field(F["rx_wake"], 2**63 + 5), [SEND, 1],
                                   field(F["tx_wake"], -1), [RECV, 255]),
    "geometry": ring(4, 1) + ops(field(F["slot_count"], 0), [REOPEN, 0],
                                 field(F["slot_count"], 4),
                                 field(F["max_msg"], 2**40), [REOPEN, 1]),
    "half_made": ring(4, 1) + ops(field(F["ready"], 0), [REOPEN, 0],
                                  field(F["magic"], 7), [REOPEN, 1]),
    "map_size": ring(3, 2) + ops(field(F["map_size"], 2**20), [REOPEN, 0],
                                 field(F["hdr_size"], 4096), [REOPEN, 0]),
    "unlinked": ring(4, 1) + ops([SEND, 1], [UNLINK], [REOPEN, 0], [SEND, 2],
                                 [RECV, 255], [RECV, 255]),
    "polled": ring(2, 1) + ops([POLL, 0], [POLL, 1], [RECV, 255], [SEND, 1],
                               [SEND, 2], [SEND, 3], [RECV, 255], [RECV, 255],
                               [RECV, 255], [POLL, 0], [SEND, 4]),
    "polled_pair": ring(2, 1, True) + ops([POLL, 0], [POLL, 1], [RECV, 255],
                                          [SEND, 1], [SEND, 2], [SEND, 3],
                                          [RECV, 255]),
    "bell_forged": ring(2, 1) + ops([POLL, 0], [POLL, 1],
                                    field(BELL, 1 << 32 | 5), [RECV, 255],
                                    [SEND, 1], [SEND, 2], [SEND, 3],
                                    field(BELL + 3, 0xffffffff << 32),
                                    [RECV, 255], [SEND, 4], [RECV, 255]),
    "tx_seen": ring(2, 1) + ops(field(F["tx_seen"], 0), field(F["n_tx"], 0),
                                [RECV, 255], field(F["tx_seen"], 1),
                                [RECV, 255], [SEND, 1], [RECV, 255]),
    "any_word": ring(4, 1) + ops([SEND, 1], [WORD, 0x81, 0x05] + [0xff] * 8,
                                 [WORD, 0x18, 0x00] + [1] * 8, [RECV, 255],
                                 [SEND, 1]),
}
for k, v in rings.items():
    put("shm_ring", k, v)

# sync: an opcode byte kind << 3 | call (| 0x80: timeout 1 ms); call 7
# writes a word (offset byte, 4 value bytes, big-endian), 6 re-attaches.
MU, SE, BA, SP, EV = range(5)
def sop(k, o, slow=False):
    return [(k << 3) | o | (0x80 if slow else 0)]
def swr(k, off, v):
    return sop(k, 7) + [off] + list(v.to_bytes(4, "big"))
syncs = {
    "lock_cycle": sop(MU, 0) + sop(MU, 1) + sop(MU, 0) + sop(MU, 0) +
                  sop(MU, 2) + sop(MU, 1),
    "mutex_bad_tid": swr(MU, 2, 0x00ffffff) + sop(MU, 0, True) + sop(MU, 1) +
                     sop(MU, 6),
    "mutex_dead_tid": swr(MU, 2, 0x003ffff0) + sop(MU, 0) + sop(MU, 2) +
                      sop(MU, 1) + sop(MU, 0),
    "mutex_notrec": swr(MU, 2, 0x3fffffff) + sop(MU, 0) + sop(MU, 1),
    "sem_counts": sop(SE, 0) + sop(SE, 0, True) + sop(SE, 1) + sop(SE, 2) +
                  swr(SE, 2, 0x80000000) + sop(SE, 0) + sop(SE, 1) +
                  sop(SE, 2) + swr(SE, 2, 0x7fffffff) + sop(SE, 1),
    "barrier": sop(BA, 0) + sop(BA, 0, True) + sop(BA, 1) + swr(BA, 2, 5) +
               sop(BA, 0) + swr(BA, 3, 0) + sop(BA, 0) + sop(BA, 6),
    # the party table (word 16 on): a dead pid, judged in a 15 ms wait
    # (call 4); an entry without a pid (EPROTO); reset (call 1) clears
    "barrier_table": swr(BA, 16, 0x003ffff0) + sop(BA, 4) + sop(BA, 1) +
                     swr(BA, 16, 0) + swr(BA, 17, 1) + sop(BA, 4) +
                     sop(BA, 1) + sop(BA, 6) + sop(BA, 0),
    "spin": sop(SP, 0) + sop(SP, 0) + sop(SP, 1) + swr(SP, 2, 0x80000001) +
            sop(SP, 0, True) + sop(SP, 2),
    "event": sop(EV, 0) + sop(EV, 2) + sop(EV, 1) + sop(EV, 2, True) +
             swr(EV, 2, 0xffffffff) + sop(EV, 2),
    "headers": swr(MU, 0, 0) + sop(MU, 0) + sop(MU, 6) +
               swr(SE, 1, 0x00010001) + sop(SE, 6) + sop(SE, 0) +
               swr(EV, 0, 0x12345678) + sop(EV, 6),
}
for k, v in syncs.items():
    put("sync", k, bytes(v))

# shm: region headers (region_int.h): 8 bytes of object size, then the
# header's first 32 bytes.
RMAGIC, RREADY = 0x314e474552435049, 0x52454459

def rhdr(size, ready=RREADY, magic=RMAGIC, ver=1, hs=4096, pid=1234):
    return struct.pack("<QIIQII", magic, ver, hs, size, ready, pid)

def robj(n):
    return struct.pack("<Q", n)

regions = {
    "ready": robj(4096 + 8192) + rhdr(8192),
    "ready_small": robj(4097) + rhdr(1),
    "half": robj(4096 + 8192) + rhdr(0, ready=0),
    "blank": robj(4096 + 8192) + bytes(32), "empty": robj(0),
    "short": robj(20) + rhdr(8192)[:20],
    "truncated": robj(4096 + 4096) + rhdr(8192),
    "bad_magic": robj(4096 + 8192) + rhdr(8192, magic=0x1122334455667788),
    "bad_version": robj(4096 + 8192) + rhdr(8192, ver=2),
    "bad_hdr_size": robj(4096 + 8192) + rhdr(8192, hs=64),
    "bad_ready": robj(4096 + 8192) + rhdr(8192, ready=1),
    "size_zero": robj(4096) + rhdr(0), "huge": robj(4096 + 8192) + rhdr(2**63),
    # a crash once: 30 bytes given, the object's zeroes complete a header
    "short_ready_zero_tail": robj(4097) + rhdr(1, pid=0)[:30],
}
for k, v in regions.items():
    put("region_hdr", k, v)

# reqrep: whole messages (src/reqrep/rr_int.h): a 32-byte header, payload.
RR_MAGIC = 0x31525249

def rr(kind, payload=b"", flags=0, status=0, slot=1, gen=2, cid=3,
       length=None, zero=0, magic=RR_MAGIC):
    n = len(payload) if length is None else length
    return struct.pack("<IBBHIIQII", magic, kind, flags, status, slot, gen,
                       cid, n, zero) + payload

def ident(pid, start, addr=b""):
    return struct.pack("<IIQ", pid, 0, start) + addr

reqrep = {
    "request": rr(3, b"Ehello"), "request_idem": rr(3, b"x", flags=1),
    "request_empty": rr(3), "reply": rr(4, b"\0" * 64),
    "fail": rr(5, status=5), "bye": rr(6),
    "hello": rr(1, ident(1234, 99, b"unix:@x.rr.1234.99.0?max_msg=65536")),
    "hello_fifo": rr(1, ident(7, 1, b"fifo:/tmp/s.rr.7.1.0")),
    "welcome": rr(2, ident(42, 7)),
    "hello_noaddr": rr(1, ident(1, 1)), "hello_ctl": rr(1, ident(1, 1, b"a\nb")),
    "welcome_pid0": rr(2, ident(0, 7)), "welcome_addr": rr(2, ident(1, 1, b"z")),
    "short": rr(3)[:31], "bad_magic": rr(3, magic=0), "kind0": rr(0),
    "kind7": rr(7), "flags_reply": rr(4, flags=1), "flags_bad": rr(3, flags=2),
    "status_ok_fail": rr(5), "status_reply": rr(4, status=1),
    "status_big": rr(5, status=256), "len_over": rr(3, b"ab", length=3),
    "len_under": rr(3, b"ab", length=1), "len_huge": rr(3, length=2**32 - 1),
    "reserved": rr(3, zero=1),
    # Pings (udp): a number, then ids (the top bit is the pong's "held").
    "ping": rr(7, struct.pack("<QQQ", 5, 3, 8)),
    "ping_held_bit": rr(7, struct.pack("<QQ", 6, 2**63 + 9)),
    "ping_longest": rr(7, struct.pack("<129Q", 1, *range(1, 129))),
    "ping_too_long": rr(7, struct.pack("<130Q", 1, *range(1, 130))),
    "ping_ragged": rr(7, struct.pack("<Q", 5) + b"abc"),
    "pong": rr(8, struct.pack("<QQ", 5, 2**63 + 3)),
}
for k, v in reqrep.items():
    put("reqrep", k, v)
