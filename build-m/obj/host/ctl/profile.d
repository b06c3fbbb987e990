build-m/obj/host/ctl/profile.o: host/ctl/profile.c host/ctl/profile.h \
 offload/pso_check.h
host/ctl/profile.h:
offload/pso_check.h:
