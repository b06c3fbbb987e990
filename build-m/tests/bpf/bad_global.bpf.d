build-m/tests/bpf/bad_global.bpf.o: tests/bpf/bad_global.bpf.c
