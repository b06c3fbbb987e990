build-m/tests/bpf/bad_loop.bpf.o: tests/bpf/bad_loop.bpf.c
