build-m/obj/tests/unit/test_xdp_packets.o: tests/unit/test_xdp_packets.c \
 /usr/include/libnl3/netlink/netlink.h \
 /usr/include/libnl3/netlink/netlink-compat.h \
 /usr/include/libnl3/netlink/version.h \
 /usr/include/libnl3/netlink/errno.h /usr/include/libnl3/netlink/types.h \
 /usr/include/libnl3/netlink/handlers.h \
 /usr/include/libnl3/netlink/netlink-kernel.h \
 /usr/include/libnl3/netlink/socket.h \
 /usr/include/libnl3/netlink/object.h /usr/include/libnl3/netlink/utils.h \
 /usr/include/libnl3/netlink/list.h \
 /usr/include/libnl3/netlink/route/link.h \
 /usr/include/libnl3/netlink/cache.h /usr/include/libnl3/netlink/msg.h \
 /usr/include/libnl3/netlink/attr.h /usr/include/libnl3/netlink/addr.h \
 /usr/include/libnl3/netlink/data.h \
 /usr/include/libnl3/netlink/route/link/veth.h bpf/psoffload_abi.h \
 build-m/bpf/psoffload_xdp.skel.h \
 build-m/bpf/psoffload_xdp_offload.skel.h tests/lib/pkt.h \
 tests/lib/evcatch.h tests/lib/pkt.h tests/lib/copy_desc.h \
 tests/unit/../fixtures/xdp_packets.h
/usr/include/libnl3/netlink/netlink.h:
/usr/include/libnl3/netlink/netlink-compat.h:
/usr/include/libnl3/netlink/version.h:
/usr/include/libnl3/netlink/errno.h:
/usr/include/libnl3/netlink/types.h:
/usr/include/libnl3/netlink/handlers.h:
/usr/include/libnl3/netlink/netlink-kernel.h:
/usr/include/libnl3/netlink/socket.h:
/usr/include/libnl3/netlink/object.h:
/usr/include/libnl3/netlink/utils.h:
/usr/include/libnl3/netlink/list.h:
/usr/include/libnl3/netlink/route/link.h:
/usr/include/libnl3/netlink/cache.h:
/usr/include/libnl3/netlink/msg.h:
/usr/include/libnl3/netlink/attr.h:
/usr/include/libnl3/netlink/addr.h:
/usr/include/libnl3/netlink/data.h:
/usr/include/libnl3/netlink/route/link/veth.h:
bpf/psoffload_abi.h:
build-m/bpf/psoffload_xdp.skel.h:
build-m/bpf/psoffload_xdp_offload.skel.h:
tests/lib/pkt.h:
tests/lib/evcatch.h:
tests/lib/pkt.h:
tests/lib/copy_desc.h:
tests/unit/../fixtures/xdp_packets.h:
