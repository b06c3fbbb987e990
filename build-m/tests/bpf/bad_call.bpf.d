build-m/tests/bpf/bad_call.bpf.o: tests/bpf/bad_call.bpf.c
