# tests/fixtures.mk: the e3nn reference-fixture suite (tests/test_fixtures.c).
# The fixtures are written by tests/fixtures/gen_fixtures.py (see
# tests/fixtures/README.md).
CRITERION_SUITES += tests/test_fixtures
tests_test_fixtures_SOURCES = tests/test_fixtures.c tests/fixture_io.c
noinst_HEADERS += tests/fixture_io.h

EXTRA_DIST += \
	tests/fixtures/README.md \
	tests/fixtures/gen_fixtures.py \
	tests/fixtures/manifest.txt \
	tests/fixtures/mode_uvw.bin \
	tests/fixtures/mode_uvu_w.bin \
	tests/fixtures/mode_uvu_nw.bin \
	tests/fixtures/mode_uvv_w.bin \
	tests/fixtures/mode_uvv_nw.bin \
	tests/fixtures/mode_uuw_w.bin \
	tests/fixtures/mode_uuw_nw.bin \
	tests/fixtures/mode_uuu_w.bin \
	tests/fixtures/mode_uuu_nw.bin \
	tests/fixtures/mode_uvuv_w.bin \
	tests/fixtures/mode_uvuv_nw.bin \
	tests/fixtures/mixed_shared.bin \
	tests/fixtures/mixed_perrow.bin \
	tests/fixtures/norm_component_element.bin \
	tests/fixtures/norm_component_path.bin \
	tests/fixtures/norm_component_none.bin \
	tests/fixtures/norm_norm_element.bin \
	tests/fixtures/norm_norm_path.bin \
	tests/fixtures/norm_norm_none.bin \
	tests/fixtures/norm_none_element.bin \
	tests/fixtures/norm_none_path.bin \
	tests/fixtures/norm_none_none.bin \
	tests/fixtures/vars_pw_element.bin \
	tests/fixtures/vars_pw_path_norm.bin \
	tests/fixtures/vars_only_out.bin \
	tests/fixtures/zero_var_element.bin \
	tests/fixtures/zero_var_path.bin \
	tests/fixtures/high_l.bin \
	tests/fixtures/high_l_uuu.bin \
	tests/fixtures/bigmul_uvu.bin \
	tests/fixtures/bigmul_uvw.bin \
	tests/fixtures/bigmul_uuu_uvuv.bin \
	tests/fixtures/fctp.bin \
	tests/fixtures/fctp_perrow_norm_path.bin \
	tests/fixtures/mace_channelwise.bin \
	tests/fixtures/mace_channelwise_big.bin \
	tests/fixtures/full_tp.bin \
	tests/fixtures/elementwise_tp.bin \
	tests/fixtures/empty_block.bin \
	tests/fixtures/no_weights_empty_first.bin \
	tests/fixtures/zero_mul_element.bin \
	tests/fixtures/zero_mul_path.bin

# The fused-convolution fixtures (tests/test_conv_fixtures.c), written by
# tests/fixtures/gen_conv_fixtures.py (see tests/fixtures/README.md).
CRITERION_SUITES += tests/test_conv_fixtures
tests_test_conv_fixtures_SOURCES = tests/test_conv_fixtures.c tests/fixture_io.c

EXTRA_DIST += \
	tests/fixtures/gen_conv_fixtures.py \
	tests/fixtures/conv_manifest.txt \
	tests/fixtures/conv_mace_channelwise.bin \
	tests/fixtures/conv_fctp_shared.bin \
	tests/fixtures/conv_nequip_ghosts.bin \
	tests/fixtures/conv_directed_mixed.bin
