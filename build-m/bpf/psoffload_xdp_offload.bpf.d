build-m/bpf/psoffload_xdp_offload.bpf.o: bpf/psoffload_xdp.bpf.c \
  bpf/psoffload_abi.h bpf/psoffload_maps.h bpf/psoffload_lookup.h \
  bpf/psoffload_parse.h bpf/psoffload_events.h bpf/psoffload_admit.h \
  bpf/psoffload_ctx.h bpf/psoffload_ctx_xdp.h bpf/psoffload_csum.h

bpf/psoffload_abi.h:

bpf/psoffload_maps.h:

bpf/psoffload_lookup.h:

bpf/psoffload_parse.h:

bpf/psoffload_events.h:

bpf/psoffload_admit.h:

bpf/psoffload_ctx.h:

bpf/psoffload_ctx_xdp.h:

bpf/psoffload_csum.h:
