build-m/obj/tests/lib/netns.o: tests/lib/netns.c tests/lib/netns.h
tests/lib/netns.h:
