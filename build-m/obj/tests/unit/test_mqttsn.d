build-m/obj/tests/unit/test_mqttsn.o: tests/unit/test_mqttsn.c \
 host/proto/mqttsn.h bpf/psoffload_abi.h
host/proto/mqttsn.h:
bpf/psoffload_abi.h:
