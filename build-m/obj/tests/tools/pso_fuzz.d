build-m/obj/tests/tools/pso_fuzz.o: tests/tools/pso_fuzz.c \
 host/proto/mqttsn.h bpf/psoffload_abi.h
host/proto/mqttsn.h:
bpf/psoffload_abi.h:
