// Reference firmware for the retinad photodiode (protocol v1, ../PROTOCOL.md), for an ATmega328P
// Arduino board (Uno, Nano) with the photodiode amplifier on A0. It mirrors calib/wire byte for
// byte; `make firmware` builds it and calib/avr_test.go runs it in simavr against calib/wire.
// Integer arithmetic is done in 32 bits on purpose: int is 16 bits on AVR, so thr + hyst / 2
// in uint16_t would wrap.
#include <Arduino.h>
#include <avr/sleep.h>
#include <util/crc16.h>

const uint8_t VERSION = 1;
const uint8_t FW_MAJOR = 0, FW_MINOR = 11, FW_PATCH = 0;
const uint8_t MAX_SAMPLES = 16;

// PONG_US is when, after a ping's last byte arrives, its pong starts: checking the ping and
// building the pong take about 150 us, which would make the way back longer than the way out
// and every onset late by half of it. The pong starts at a fixed time instead and carries the
// midpoint (PROTOCOL.md), so the host's round trip is symmetric about the time it carries.
const uint16_t PONG_US = 300;

uint8_t seq = 0;
uint16_t thr = 32768, hyst = 3277;
uint8_t mode = 0;
uint16_t periodUs = 1000;
bool high = false;
uint32_t lastMicros = 0, wraps = 0;

// Level mode: samples gathered since levelsT0, sent when MAX_SAMPLES are in.
uint16_t samples[MAX_SAMPLES];
uint8_t nSamples = 0;
uint64_t levelsT0 = 0, nextSample = 0;
bool gridOn = false;  // nextSample is on the current mode's grid

// now64 extends micros() across its 32-bit wrap (every 71 minutes); called at least once a loop.
uint64_t now64() {
  uint32_t m = micros();
  if (m < lastMicros) wraps++;
  lastMicros = m;
  return ((uint64_t)wraps << 32) | m;
}

// crc16 is CRC-16/CCITT-FALSE: avr-libc's XMODEM update (polynomial 0x1021, no reflection) from
// 0xFFFF. Its assembly takes about a tenth of a bitwise loop's time, which keeps a levels
// message's send (48 bytes) well inside a 500 us sample period.
uint16_t crc16(const uint8_t *p, uint8_t n) {
  uint16_t c = 0xFFFF;
  while (n--) c = _crc_xmodem_update(c, *p++);
  return c;
}

// sendFrame COBS-encodes version|type|seq|body|crc and writes it with its 0x00 delimiter, not
// before the device time due (0: at once).
void sendFrame(uint8_t type, const uint8_t *body, uint8_t n, uint64_t due = 0) {
  uint8_t p[48], out[52];
  p[0] = VERSION; p[1] = type; p[2] = seq++;
  memcpy(p + 3, body, n); n += 3;
  uint16_t c = crc16(p, n); p[n++] = c >> 8; p[n++] = c & 0xFF;
  uint8_t o = 1, code = 0, k = 1;
  for (uint8_t i = 0; i < n; i++) {
    if (p[i]) { out[o++] = p[i]; k++; }
    if (!p[i] || k == 0xFF) { out[code] = k; code = o++; k = 1; }
  }
  out[code] = k; out[o++] = 0;
  while (due && now64() < due) {}
  Serial.write(out, o);
}

void put16(uint8_t *b, uint16_t v) { b[0] = v; b[1] = v >> 8; }
// put64 writes v little-endian, the AVR's own order: a copy. Shifting a uint64_t by a variable
// count is a library loop of single-bit shifts on AVR (a pong's time took 40 us to shift).
void put64(uint8_t *b, uint64_t v) { memcpy(b, &v, 8); }
uint16_t get16(const uint8_t *b) { return (uint16_t)b[0] | (uint16_t)b[1] << 8; }
void hello() { uint8_t b[4] = {VERSION, FW_MAJOR, FW_MINOR, FW_PATCH}; sendFrame(0x01, b, 4); }

// handle un-stuffs one received frame, checks it as calib/wire does (CRC, version, exact body
// length, field ranges) and acts on it; anything bad is dropped silently.
void handle(const uint8_t *f, uint8_t n, uint64_t arrived) {
  uint8_t p[64], o = 0;
  for (uint8_t i = 0; i < n;) {
    uint8_t c = f[i++];
    if (i + c - 1 > n) return;
    for (uint8_t j = 1; j < c; j++) p[o++] = f[i++];
    if (c < 0xFF && i < n) p[o++] = 0;
  }
  if (o < 5 || crc16(p, o - 2) != (uint16_t)(p[o - 2] << 8 | p[o - 1]) || p[0] != VERSION) return;
  const uint8_t *b = p + 3, len = o - 5;
  switch (p[1]) {
    case 0x81: {  // ping: answered with the time midway between its arrival and the pong
      if (len != 4) return;
      uint8_t r[12]; memcpy(r, b, 4); put64(r + 4, arrived + PONG_US / 2);
      sendFrame(0x04, r, 12, arrived + PONG_US);
      break;
    }
    case 0x82:  // set threshold
      if (len != 4) return;
      thr = get16(b); hyst = get16(b + 2);
      break;
    case 0x83:  // set mode: restarts level sampling, answered with a hello
      if (len != 3 || b[0] > 1) return;
      mode = b[0]; periodUs = get16(b + 1); nSamples = 0; gridOn = false;
      if (periodUs == 0) periodUs = 1000;
      hello();
      break;
  }
}

uint8_t rx[64], rxn = 0;

// receive handles every complete frame waiting in the UART buffer, stamping each when read.
void receive() {
  while (Serial.available()) {
    uint8_t c = Serial.read();
    if (c == 0) { if (rxn) handle(rx, rxn, now64()); rxn = 0; }
    else if (rxn < sizeof rx) rx[rxn++] = c;
  }
}

// edge sends a crossing of thr with hysteresis: rising above thr + hyst/2, falling below thr - hyst/2.
// The light crossed somewhere between the previous sample (at prev) and this one (at t): the
// edge is stamped midway, so its error is within half a loop period either way instead of
// always a loop period late.
void edge(uint16_t level, uint64_t t, uint64_t prev) {
  int32_t l = level, up = (int32_t)thr + hyst / 2, down = (int32_t)thr - hyst / 2;
  if (high ? l >= down : l <= up) return;
  high = !high;
  uint8_t b[11]; put64(b, prev + (t - prev) / 2); b[8] = high; put16(b + 9, level);
  sendFrame(0x02, b, 11);
}

// levels records the sample due at each period tick and sends a full block. The sample is the
// loop's first ADC reading after its tick (at most a loop period, about 120 us, late); a loop
// late by a whole period (a busy UART) restarts the grid rather than send samples with the
// wrong times.
void levels(uint16_t level, uint64_t t) {
  if (mode != 1) return;
  if (!gridOn) { nextSample = t; gridOn = true; }
  if (t < nextSample) return;
  if (t >= nextSample + periodUs) { nSamples = 0; nextSample = t; }
  if (nSamples == 0) levelsT0 = nextSample;
  samples[nSamples++] = level;
  nextSample += periodUs;
  if (nSamples < MAX_SAMPLES) return;
  uint8_t b[11 + 2 * MAX_SAMPLES];
  put64(b, levelsT0); put16(b + 8, periodUs); b[10] = nSamples;
  for (uint8_t i = 0; i < nSamples; i++) put16(b + 11 + 2 * i, samples[i]);
  sendFrame(0x03, b, 11 + 2 * nSamples);
  nSamples = 0;
}

void setup() {
  Serial.begin(115200);
  Serial.write((uint8_t)0);
  hello();
  analogRead(A0);  // selects A0 against AVCC (ADMUX) and makes the slow first conversion
  set_sleep_mode(SLEEP_MODE_IDLE);
}

uint64_t prevSample = 0;  // when the last conversion started

EMPTY_INTERRUPT(ADC_vect);  // the conversion's end only wakes the CPU

// convert waits for the conversion started in ADCSRA to end, asleep (idle mode: the timers and
// the UART run on) except to serve the UART: any byte wakes the CPU, so a ping is stamped
// within a few microseconds of its last byte. Sleeping also keeps the CPU's noise off the
// ADC, and lets the emulator skip the idle cycles.
void convert() {
  for (;;) {
    receive();
    cli();
    if (!(ADCSRA & _BV(ADSC))) { sei(); return; }
    if (Serial.available()) { sei(); continue; }
    sleep_enable();
    sei();  // the instruction after sei runs before any interrupt: no wake-up is missed
    sleep_cpu();
    sleep_disable();
  }
}

// loop samples A0 once per pass. Each sample is stamped when its conversion starts (the
// sample-and-hold closes 1.5 ADC clocks, 12 us, later) and the UART is served while the ADC
// converts (13 ADC clocks, 104 us at Arduino's prescaler of 128), not after it as when
// analogRead blocked the loop.
void loop() {
  uint64_t t = now64();
  ADCSRA |= _BV(ADIE) | _BV(ADSC);
  convert();
  uint16_t level = (uint16_t)ADC << 6;  // 10-bit ADC to 0..65535
  edge(level, t, prevSample ? prevSample : t);
  levels(level, t);
  prevSample = t;
}
