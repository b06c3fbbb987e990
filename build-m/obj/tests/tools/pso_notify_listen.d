build-m/obj/tests/tools/pso_notify_listen.o: \
 tests/tools/pso_notify_listen.c
