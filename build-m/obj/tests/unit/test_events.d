build-m/obj/tests/unit/test_events.o: tests/unit/test_events.c \
 host/daemon/events.h bpf/psoffload_abi.h
host/daemon/events.h:
bpf/psoffload_abi.h:
