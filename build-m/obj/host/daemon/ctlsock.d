build-m/obj/host/daemon/ctlsock.o: host/daemon/ctlsock.c \
 host/daemon/ctlsock.h host/util/log.h
host/daemon/ctlsock.h:
host/util/log.h:
