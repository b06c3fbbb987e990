build-m/obj/host/util/opts.o: host/util/opts.c host/util/log.h \
 host/util/opts.h
host/util/log.h:
host/util/opts.h:
