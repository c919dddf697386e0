#!/usr/bin/env python3
"""Prints a line per nf_tables rule added in this network namespace, as the
kernel announces it: "<epoch ms> <family> <chain>". Listens on the
NFNLGRP_NFTABLES netlink group, so unlike `nft monitor` it needs no copy of
the ruleset first (which takes minutes at 200k rules). Used by
felix-incremental to time policy changes; Node has no netlink sockets."""
import errno
import socket
import struct
import sys
import time

NETLINK_NETFILTER = 12
NETLINK_ADD_MEMBERSHIP = 1
SOL_NETLINK = 270
NFNLGRP_NFTABLES = 7
NFT_MSG_NEWRULE = (10 << 8) | 6  # NFNL_SUBSYS_NFTABLES << 8 | NFT_MSG_NEWRULE
NFTA_RULE_CHAIN = 2

s = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, NETLINK_NETFILTER)
s.setsockopt(socket.SOL_SOCKET, 33, 16 << 20)  # SO_RCVBUFFORCE: bursts of thousands of rules
s.bind((0, 0))
s.setsockopt(SOL_NETLINK, NETLINK_ADD_MEMBERSHIP, NFNLGRP_NFTABLES)
print("ready", flush=True)
while True:
    try:
        data = s.recv(1 << 20)
    except OSError as e:
        if e.errno == errno.ENOBUFS:  # events were lost; keep listening
            continue
        raise
    now = int(time.time() * 1000)
    off = 0
    while off + 16 <= len(data):
        length, mtype = struct.unpack_from("=IH", data, off)
        if length < 16:
            break
        if mtype == NFT_MSG_NEWRULE:
            family = data[off + 16]
            a = off + 20
            while a + 4 <= off + length:
                alen, atype = struct.unpack_from("=HH", data, a)
                if alen < 4:
                    break
                if atype & 0x7FFF == NFTA_RULE_CHAIN:
                    chain = data[a + 4 : a + alen].split(b"\0")[0].decode()
                    print(now, family, chain, flush=True)
                a += (alen + 3) & ~3
        off += (length + 3) & ~3
    sys.stdout.flush()
