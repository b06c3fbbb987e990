build-m/obj/tests/unit/test_profile.o: tests/unit/test_profile.c \
 host/ctl/profile.h offload/pso_check.h
host/ctl/profile.h:
offload/pso_check.h:
