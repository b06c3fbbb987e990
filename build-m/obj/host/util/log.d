build-m/obj/host/util/log.o: host/util/log.c host/util/log.h
host/util/log.h:
