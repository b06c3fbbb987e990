build-m/tests/bpf/bad_atomic.bpf.o: tests/bpf/bad_atomic.bpf.c
