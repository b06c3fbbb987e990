build-m/obj/tests/unit/test_notify.o: tests/unit/test_notify.c \
 host/daemon/notify.h host/util/log.h
host/daemon/notify.h:
host/util/log.h:
