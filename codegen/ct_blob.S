/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The connection tracker's BPF objects (codegen/ct_bpf.c built by clang for
 * skb and for xdp programs), embedded as bytes; codegen/ct.c splices their
 * functions into the generated programs.  CT_OBJ_TC and CT_OBJ_XDP are the
 * object paths (Makefile).
 */
	.section .rodata
	.balign 8
	.global gen_ct_obj_tc
	.global gen_ct_obj_tc_end
gen_ct_obj_tc:
	.incbin CT_OBJ_TC
gen_ct_obj_tc_end:

	.balign 8
	.global gen_ct_obj_xdp
	.global gen_ct_obj_xdp_end
gen_ct_obj_xdp:
	.incbin CT_OBJ_XDP
gen_ct_obj_xdp_end:

	.section .note.GNU-stack,"",@progbits
