build-m/obj/tests/net/test_nicinfo.o: tests/net/test_nicinfo.c \
 tests/lib/netns.h host/ctl/nicinfo.h
tests/lib/netns.h:
host/ctl/nicinfo.h:
