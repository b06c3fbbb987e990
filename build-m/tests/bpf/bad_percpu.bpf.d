build-m/tests/bpf/bad_percpu.bpf.o: tests/bpf/bad_percpu.bpf.c
