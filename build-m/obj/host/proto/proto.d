build-m/obj/host/proto/proto.o: host/proto/proto.c host/proto/session.h \
 host/proto/mqttsn.h bpf/psoffload_abi.h host/proto/proto.h \
 host/util/endpoint.h host/proto/topics.h host/util/log.h
host/proto/session.h:
host/proto/mqttsn.h:
bpf/psoffload_abi.h:
host/proto/proto.h:
host/util/endpoint.h:
host/proto/topics.h:
host/util/log.h:
