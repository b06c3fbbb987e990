build-m/obj/tests/net/test_tc_fanout.o: tests/net/test_tc_fanout.c \
 bpf/psoffload_abi.h build-m/bpf/psoffload_tc.skel.h tests/lib/netns.h
bpf/psoffload_abi.h:
build-m/bpf/psoffload_tc.skel.h:
tests/lib/netns.h:
