build-m/obj/host/cmd/stats.o: host/cmd/stats.c host/cmd/ctl.h \
 host/util/opts.h host/cmd/stats.h
host/cmd/ctl.h:
host/util/opts.h:
host/cmd/stats.h:
