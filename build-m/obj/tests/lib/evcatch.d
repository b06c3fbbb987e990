build-m/obj/tests/lib/evcatch.o: tests/lib/evcatch.c tests/lib/evcatch.h \
 bpf/psoffload_abi.h tests/lib/pkt.h
tests/lib/evcatch.h:
bpf/psoffload_abi.h:
tests/lib/pkt.h:
