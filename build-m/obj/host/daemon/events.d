build-m/obj/host/daemon/events.o: host/daemon/events.c \
 host/daemon/events.h bpf/psoffload_abi.h
host/daemon/events.h:
bpf/psoffload_abi.h:
