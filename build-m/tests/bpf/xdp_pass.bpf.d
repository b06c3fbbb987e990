build-m/tests/bpf/xdp_pass.bpf.o: tests/bpf/xdp_pass.bpf.c
