build-m/obj/host/cmd/check_cmd.o: host/cmd/check_cmd.c \
 host/cmd/check_cmd.h host/util/log.h host/util/opts.h host/ctl/profile.h \
 offload/pso_check.h
host/cmd/check_cmd.h:
host/util/log.h:
host/util/opts.h:
host/ctl/profile.h:
offload/pso_check.h:
