build-m/tests/bpf/ok_minimal.bpf.o: tests/bpf/ok_minimal.bpf.c
