build-m/obj/tests/unit/test_tc_packets.o: tests/unit/test_tc_packets.c \
 bpf/psoffload_abi.h build-m/bpf/psoffload_tc.skel.h tests/lib/pkt.h \
 tests/lib/evcatch.h tests/lib/pkt.h tests/lib/copy_desc.h \
 tests/unit/../fixtures/tc_packets.h
bpf/psoffload_abi.h:
build-m/bpf/psoffload_tc.skel.h:
tests/lib/pkt.h:
tests/lib/evcatch.h:
tests/lib/pkt.h:
tests/lib/copy_desc.h:
tests/unit/../fixtures/tc_packets.h:
