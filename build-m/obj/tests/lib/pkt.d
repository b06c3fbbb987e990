build-m/obj/tests/lib/pkt.o: tests/lib/pkt.c tests/lib/pkt.h
tests/lib/pkt.h:
