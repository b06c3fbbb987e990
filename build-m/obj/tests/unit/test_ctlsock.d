build-m/obj/tests/unit/test_ctlsock.o: tests/unit/test_ctlsock.c \
 host/daemon/ctlsock.h host/daemon/metrics.h host/daemon/snapshot.h \
 host/proto/proto.h bpf/psoffload_abi.h host/tables/tables.h
host/daemon/ctlsock.h:
host/daemon/metrics.h:
host/daemon/snapshot.h:
host/proto/proto.h:
bpf/psoffload_abi.h:
host/tables/tables.h:
