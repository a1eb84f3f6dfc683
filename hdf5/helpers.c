//go:build cgo

// C helpers for what cgo cannot reach: the native-type macros (which call H5open) and the
// error stack walk.
#include "helpers.h"
#include <string.h>


// The native type macros call H5open(); cgo cannot expand them, so they are read here.
hid_t rd_native(int k) {
	switch (k) {
	case 1: return H5T_NATIVE_FLOAT;
	case 2: return H5T_NATIVE_DOUBLE;
	case 3: return H5T_NATIVE_INT8;
	case 4: return H5T_NATIVE_INT16;
	case 5: return H5T_NATIVE_INT32;
	case 6: return H5T_NATIVE_INT64;
	case 7: return H5T_NATIVE_UINT8;
	case 8: return H5T_NATIVE_UINT16;
	case 9: return H5T_NATIVE_UINT32;
	case 10: return H5T_NATIVE_UINT64;
	case 11: return H5T_STD_REF_OBJ;
	}
	return -1;
}
hid_t rd_plist(int k) {
	switch (k) {
	case 1: return H5P_FILE_CREATE;
	case 2: return H5P_DATASET_CREATE;
	case 3: return H5P_LINK_CREATE;
	}
	return -1;
}
hid_t rd_vlenUTF8(void) {
	hid_t t = H5Tcopy(H5T_C_S1);
	if (t < 0) return t;
	if (H5Tset_size(t, H5T_VARIABLE) < 0 || H5Tset_cset(t, H5T_CSET_UTF8) < 0) { H5Tclose(t); return -1; }
	return t;
}
hid_t rd_fixedASCII(size_t n) {
	hid_t t = H5Tcopy(H5T_C_S1);
	if (t < 0) return t;
	if (H5Tset_size(t, n) < 0 || H5Tset_strpad(t, H5T_STR_NULLTERM) < 0) { H5Tclose(t); return -1; }
	return t;
}
void rd_quiet(void) { H5Eset_auto2(H5E_DEFAULT, NULL, NULL); }

// lastError copies the innermost message of the current error stack into buf.
herr_t rd_walk(unsigned n, const H5E_error2_t *e, void *buf) {
	if (n == 0 && e->desc) { strncpy((char*)buf, e->desc, 255); ((char*)buf)[255] = 0; }
	return 0;
}
void rd_lastError(char *buf) {
	buf[0] = 0;
	H5Ewalk2(H5E_DEFAULT, H5E_WALK_UPWARD, rd_walk, buf);
	H5Eclear2(H5E_DEFAULT);
}

// rd_fapl is a file access property list whose close also closes every object of the file
// still open, so that a closed File really releases the file (and its lock).
hid_t rd_fapl(void) {
	hid_t p = H5Pcreate(H5P_FILE_ACCESS);
	if (p < 0) return p;
	if (H5Pset_fclose_degree(p, H5F_CLOSE_STRONG) < 0) { H5Pclose(p); return -1; }
	return p;
}
