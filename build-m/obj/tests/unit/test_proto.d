build-m/obj/tests/unit/test_proto.o: tests/unit/test_proto.c \
 host/proto/mqttsn.h bpf/psoffload_abi.h host/proto/proto.h \
 host/proto/session.h host/util/endpoint.h host/proto/topics.h
host/proto/mqttsn.h:
bpf/psoffload_abi.h:
host/proto/proto.h:
host/proto/session.h:
host/util/endpoint.h:
host/proto/topics.h:
