build-m/obj/tests/net/test_nexthop.o: tests/net/test_nexthop.c \
 tests/lib/netns.h host/ctl/nexthop.h
tests/lib/netns.h:
host/ctl/nexthop.h:
