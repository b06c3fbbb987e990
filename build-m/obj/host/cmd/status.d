build-m/obj/host/cmd/status.o: host/cmd/status.c host/cmd/ctl.h \
 host/util/opts.h host/cmd/status.h host/daemon/statusfile.h
host/cmd/ctl.h:
host/util/opts.h:
host/cmd/status.h:
host/daemon/statusfile.h:
