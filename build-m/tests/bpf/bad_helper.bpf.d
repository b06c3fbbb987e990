build-m/tests/bpf/bad_helper.bpf.o: tests/bpf/bad_helper.bpf.c
