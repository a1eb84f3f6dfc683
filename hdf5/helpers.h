//go:build cgo

#include <stdlib.h>
#include <hdf5.h>

hid_t rd_native(int k);
hid_t rd_plist(int k);
hid_t rd_vlenUTF8(void);
hid_t rd_fixedASCII(size_t n);
void rd_quiet(void);
void rd_lastError(char *buf);
hid_t rd_fapl(void);
