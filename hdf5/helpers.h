//go:build cgo

#include <stdlib.h>
#include <hdf5.h>

hid_t rd_native(int k);
hid_t rd_plist(int k);
hid_t rd_vlenUTF8(void);
hid_t rd_fixedASCII(size_t n);
void rd_quiet(void);
void rd_lastError(char *buf);
herr_t rd_readVlenStrings(hid_t ds, hid_t t, char **out);
herr_t rd_freeVlen(hid_t t, hid_t space, char **buf);
hid_t rd_fapl(void);
