build-m/obj/tests/tools/pso_unsub.o: tests/tools/pso_unsub.c \
 host/proto/mqttsn.h bpf/psoffload_abi.h
host/proto/mqttsn.h:
bpf/psoffload_abi.h:
