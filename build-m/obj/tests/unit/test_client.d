build-m/obj/tests/unit/test_client.o: tests/unit/test_client.c \
 host/cmd/client.h host/proto/mqttsn.h bpf/psoffload_abi.h
host/cmd/client.h:
host/proto/mqttsn.h:
bpf/psoffload_abi.h:
