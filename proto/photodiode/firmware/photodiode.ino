// Reference firmware for the retinad photodiode (protocol v1, ../PROTOCOL.md), for an
// Arduino-compatible board with the photodiode amplifier on A0. It cannot be run here: it is
// untested on hardware, kept short, and mirrors calib/wire byte for byte.
#include <Arduino.h>

const uint8_t VERSION = 1;
uint8_t seq = 0;
uint16_t thr = 32768, hyst = 3277;
uint8_t mode = 0;
uint16_t periodUs = 1000;
bool high = false;
uint32_t lastMicros = 0, wraps = 0;

uint64_t now64() { uint32_t m = micros(); if (m < lastMicros) wraps++; lastMicros = m; return ((uint64_t)wraps << 32) | m; }

uint16_t crc16(const uint8_t *p, int n) {
  uint16_t c = 0xFFFF;
  while (n--) { c ^= (uint16_t)(*p++) << 8; for (int i = 0; i < 8; i++) c = (c & 0x8000) ? (c << 1) ^ 0x1021 : c << 1; }
  return c;
}

void sendFrame(uint8_t type, const uint8_t *body, int n) {
  uint8_t p[48], out[52];
  p[0] = VERSION; p[1] = type; p[2] = seq++;
  memcpy(p + 3, body, n); n += 3;
  uint16_t c = crc16(p, n); p[n++] = c >> 8; p[n++] = c & 0xFF;
  int o = 1, code = 0, k = 1;  // COBS
  for (int i = 0; i < n; i++) {
    if (p[i]) { out[o++] = p[i]; k++; }
    if (!p[i] || k == 0xFF) { out[code] = k; code = o++; k = 1; }
  }
  out[code] = k; out[o++] = 0;
  Serial.write(out, o);
}

void put64(uint8_t *b, uint64_t v) { for (int i = 0; i < 8; i++) b[i] = v >> (8 * i); }
void hello() { uint8_t b[4] = {VERSION, 0, 9, 0}; sendFrame(0x01, b, 4); }

uint8_t rx[64]; int rxn = 0;
void handle(uint8_t *f, int n) {  // un-stuff in place, check, act
  uint8_t p[64]; int o = 0;
  for (int i = 0; i < n;) { int c = f[i++]; if (i + c - 1 > n) return; for (int j = 1; j < c; j++) p[o++] = f[i++]; if (c < 0xFF && i < n) p[o++] = 0; }
  if (o < 5 || crc16(p, o - 2) != ((p[o - 2] << 8) | p[o - 1]) || p[0] != VERSION) return;
  uint8_t *b = p + 3;
  switch (p[1]) {
    case 0x81: { uint8_t r[12]; uint64_t t = now64(); memcpy(r, b, 4); put64(r + 4, t); sendFrame(0x04, r, 12); break; }
    case 0x82: thr = b[0] | (b[1] << 8); hyst = b[2] | (b[3] << 8); break;
    case 0x83: mode = b[0]; periodUs = b[1] | (b[2] << 8); hello(); break;
  }
}

void setup() { Serial.begin(115200); Serial.write((uint8_t)0); hello(); }

void loop() {
  while (Serial.available()) {
    uint8_t c = Serial.read();
    if (c == 0) { if (rxn) handle(rx, rxn); rxn = 0; } else if (rxn < (int)sizeof rx) rx[rxn++] = c;
  }
  uint16_t level = (uint16_t)analogRead(A0) << 6;  // 10-bit ADC to 0..65535
  uint64_t t = now64();
  if (!high && level > thr + hyst / 2 || high && level < thr - hyst / 2) {
    high = !high;
    uint8_t b[11]; put64(b, t); b[8] = high; b[9] = level; b[10] = level >> 8;
    sendFrame(0x02, b, 11);
  }
  // Level mode (mode 1) is specified but not implemented in this sketch.
}
