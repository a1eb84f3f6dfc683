// avrboard: an emulated photodiode board. It runs the built firmware (.hex or ELF) on an
// ATmega328P at 16 MHz in simavr, paced to real time, with its UART0 on a new pseudo-terminal
// that the host opens like any serial port, and its A0 input driven by commands on stdin.
//
// Usage: avrboard [-fast] [-seconds S] photodiode.elf|photodiode.hex
// Prints "pty <path>" once the pty exists. Commands on stdin, one a line:
//   level <mV> [<host ns>]
//                set A0 to mV (0..5000) now, or when the paced clock reaches host ns (the
//                host's CLOCK_MONOTONIC, the daemon's clock); answered, when it is set, with
//                "at <emulated us> <mV> <lag us> <host ns>": the ground truth in emulated time
//                and on the host's clock as paced (start + emulated time), and how far emulated
//                time is behind real time (it grows while the machine starves the emulator,
//                which then catches up by running unpaced)
//   noise <mV>   Gaussian noise (standard deviation) added to every ADC conversion
//   quit         exit
// The UART is a faithful 115200 8N1 wire in both directions: a byte reaches the pty when its
// stop bit ends (simavr signals it when the firmware writes UDR, a whole byte early), and bytes
// take 10 bit times (simavr counts 11, a parity bit that 8N1 has not), so that the host sees the
// wire times a real board's line has; the host's bytes go onto that wire one byte time apart,
// not before the real time they were read.
// -fast runs unpaced (for the emulation-speed figure); -seconds stops after S emulated seconds
// and prints "cycles <n> real_s <s> conversions <n>" (one ADC conversion a firmware loop).
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/prctl.h>
#include <string.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include <simavr/avr_adc.h>
#include <simavr/avr_uart.h>
#include <simavr/sim_avr.h>
#include <simavr/sim_elf.h>
#include <simavr/sim_hex.h>
#include <simavr/sim_irq.h>
#include <simavr/sim_cycle_timers.h>
#include <simavr/sim_io.h>

static avr_t *avr;
static int master = -1;
static double noiseMV;
static double startReal;           // real time of the run loop's start, emulated time 0
static int xon = 1;                 // the firmware's UART can take a byte
static avr_irq_t *uartIn, *adc0;
static avr_uart_t *uart0;           // simavr's UART0, to correct its byte time

// txq holds the bytes the firmware has started sending, each with the cycle its stop bit ends.
static struct { uint8_t b; avr_cycle_count_t due; } txq[64];
static unsigned txHead, txLen;

static double nowReal(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec + ts.tv_nsec * 1e-9;
}

static double emulatedUS(void) { return (double)avr->cycle * 1e6 / avr->frequency; }

// gauss is a Box-Muller normal deviate; the noise need not be more than plausible.
static double gauss(void) {
  double u = (rand() + 1.0) / (RAND_MAX + 2.0), v = (rand() + 1.0) / (RAND_MAX + 2.0);
  return sqrt(-2 * log(u)) * cos(2 * M_PI * v);
}

// levels is A0's recent history: the light level from each cycle on, newest last.
static struct { avr_cycle_count_t from; double mv; } hist[64];
static unsigned histN;
static avr_cycle_count_t sampleAt;
static unsigned long conversions;  // ADC results read: one a firmware loop  // cycle the running conversion's sample-and-hold closes

static void setLevel(double mv) {
  if (histN == 64) { memmove(hist, hist + 1, sizeof hist[0] * 63); histN--; }
  hist[histN].from = avr->cycle;
  hist[histN++].mv = mv;
}

// levelAt is A0's light level at cycle c.
static double levelAt(avr_cycle_count_t c) {
  for (unsigned i = histN; i-- > 0;) {
    if (hist[i].from <= c) return hist[i].mv;
  }
  return histN ? hist[0].mv : 0;
}

// onADCSRA sees every write to ADCSRA (after simavr's ADC has acted on it): a conversion
// started now samples its input 1.5 ADC clocks later, when the sample-and-hold closes (13.5
// clocks on the first conversion after enabling the ADC; not told apart here).
static void onADCSRA(avr_t *a, avr_io_addr_t addr, uint8_t v, void *param) {
  (void)a; (void)addr; (void)param;
  if (v & 0x40) {  // ADSC: a conversion starts (the firmware writes it only when none runs)
    unsigned prescale = 1u << (v & 0x07);
    sampleAt = avr->cycle + (prescale < 2 ? 2 : prescale) * 3 / 2;
  }
}

// onTrigger runs when simavr reads the conversion's result, at its end (simavr 1.6 samples the
// input then, a whole conversion late): it sets A0 to the light level at the sample-and-hold
// instant, plus noise, as a real ADC would have sampled it.
static void onTrigger(struct avr_irq_t *irq, uint32_t value, void *param) {
  (void)irq; (void)value; (void)param;
  conversions++;
  double mv = levelAt(sampleAt) + noiseMV * gauss();
  mv = mv < 0 ? 0 : mv > 5000 ? 5000 : mv;
  avr_raise_irq(adc0, (uint32_t)(mv + 0.5));
}

// byteCycles is an 8N1 byte's time on the wire at the rate the firmware set: 10 bits of
// (UBRR0 + 1) * 8 cycles with U2X0, twice that without. uartPace makes simavr's UART use it.
static avr_cycle_count_t byteCycles(void) {
  unsigned ubrr = avr->data[0xC4] | (avr->data[0xC5] & 0x0F) << 8;  // UBRR0L, UBRR0H
  unsigned bit = (ubrr + 1) * 8 * ((avr->data[0xC0] & 0x02) ? 1 : 2);  // UCSR0A's U2X0
  return 10 * (avr_cycle_count_t)bit;
}

static void uartPace(void) { uart0->cycles_per_byte = byteCycles(); }

// txDone runs when the oldest byte's stop bit ends: the host receives it now.
static avr_cycle_count_t txDone(avr_t *a, avr_cycle_count_t when, void *param) {
  (void)a; (void)when; (void)param;
  uint8_t b = txq[txHead].b;
  // With nobody reading, the pty fills: the byte is lost, as on a real line with no listener.
  if (write(master, &b, 1) != 1 && errno != EAGAIN) { perror("avrboard: write pty"); exit(1); }
  txHead = (txHead + 1) % 64;
  return --txLen ? txq[txHead].due : 0;
}

// onUARTOut runs when the firmware writes UDR0, as the byte's start bit begins.
static void onUARTOut(struct avr_irq_t *irq, uint32_t value, void *param) {
  (void)irq; (void)param;
  if (txLen == 64) { fprintf(stderr, "avrboard: UART output queue full\n"); exit(1); }
  avr_cycle_count_t start = avr->cycle;
  if (txLen) {  // still shifting the previous byte out: this one starts when it ends
    avr_cycle_count_t prev = txq[(txHead + txLen - 1) % 64].due;
    if (prev > start) start = prev;
  }
  txq[(txHead + txLen) % 64].b = value;
  txq[(txHead + txLen) % 64].due = start + byteCycles();
  if (txLen++ == 0) avr_cycle_timer_register(avr, txq[txHead].due - avr->cycle, txDone, NULL);
}
static void onXon(struct avr_irq_t *irq, uint32_t value, void *param) { (void)irq; (void)value; (void)param; xon = 1; }
static void onXoff(struct avr_irq_t *irq, uint32_t value, void *param) { (void)irq; (void)value; (void)param; xon = 0; }

// openPTY makes the pty, raw from the start (no echo of the firmware's bytes back into it), and
// keeps the slave open so that the host may close and reopen it.
static void openPTY(void) {
  master = posix_openpt(O_RDWR | O_NOCTTY);
  if (master < 0 || grantpt(master) || unlockpt(master)) { perror("avrboard: pty"); exit(1); }
  const char *name = ptsname(master);
  int slave = open(name, O_RDWR | O_NOCTTY);
  struct termios t;
  if (slave < 0 || tcgetattr(slave, &t)) { perror("avrboard: pty slave"); exit(1); }
  cfmakeraw(&t);
  tcsetattr(slave, TCSANOW, &t);
  fcntl(master, F_SETFL, O_NONBLOCK);
  printf("pty %s\n", name);
  fflush(stdout);
}

// command applies one stdin line; returns 0 on quit.
// lit sets A0 to mv now and answers with when: emulated us, mV, lag us, and the host ns of
// this emulated instant on the paced clock (start + emulated time).
static void lit(double mv) {
  setLevel(mv);
  double emu = emulatedUS();
  printf("at %.3f %.1f %.1f %.0f\n", emu, mv, (nowReal() - startReal) * 1e6 - emu, (startReal + emu * 1e-6) * 1e9);
  fflush(stdout);
}

// sched holds the lights set for later, in order, each with the cycle it is due at.
static struct { avr_cycle_count_t at; double mv; } sched[1024];
static unsigned schedHead, schedLen;

// schedDue lights the oldest scheduled level at its cycle.
static avr_cycle_count_t schedDue(avr_t *a, avr_cycle_count_t when, void *param) {
  (void)a; (void)param;
  lit(sched[schedHead].mv);
  schedHead = (schedHead + 1) % 1024;
  if (--schedLen == 0) return 0;
  avr_cycle_count_t next = sched[schedHead].at;
  return next > when ? next : when + 1;
}

// schedule sets A0 to mv when the paced clock reaches host time dueNs (at once if it has):
// the emulated world sees the light at its time however late the command came, and however
// late the host's own thread woke to send it.
static void schedule(double mv, double dueNs) {
  double at = (dueNs * 1e-9 - startReal) * avr->frequency;
  if (at <= (double)avr->cycle && schedLen == 0) { lit(mv); return; }
  if (schedLen == 1024) { fprintf(stderr, "avrboard: more than 1024 lights scheduled\n"); exit(1); }
  avr_cycle_count_t c = at <= (double)avr->cycle ? avr->cycle + 1 : (avr_cycle_count_t)at;
  if (schedLen && c < sched[(schedHead + schedLen - 1) % 1024].at) c = sched[(schedHead + schedLen - 1) % 1024].at;
  sched[(schedHead + schedLen) % 1024].at = c;
  sched[(schedHead + schedLen) % 1024].mv = mv;
  if (schedLen++ == 0) avr_cycle_timer_register(avr, c - avr->cycle, schedDue, NULL);
}

static int command(char *line) {
  double v, due;
  int n = sscanf(line, "level %lf %lf", &v, &due);
  if (n == 2) {
    schedule(v, due);
  } else if (n == 1) {
    lit(v);
  } else if (sscanf(line, "noise %lf", &v) == 1) {
    noiseMV = v;
  } else if (strncmp(line, "quit", 4) == 0) {
    return 0;
  } else {
    fprintf(stderr, "avrboard: unknown command %s", line);
  }
  return 1;
}

// receiveHost moves the host's bytes from the pty to the UART as a wire would: each when the
// emulated clock reaches the real time it was read at, and one a byte time after the other.
// A byte that came while the emulator was behind real time waits until it has caught up, so
// the firmware stamps a ping at its real arrival whatever the machine did to the emulator.
// (Handed over at once, pings read while the emulator was starved were stamped early by its
// lag and answered fast as it caught up: the clock sync took them for its best samples. And
// handed over in a burst, simavr lets the firmware read the first two bytes together, as if
// from its 2-byte FIFO: a ping arrived a byte time early.)
static void receiveHost(void) {
  static struct { uint8_t b; double readAt; } rxq[256];  // read from the pty, not yet on the wire
  static unsigned head, len;
  static avr_cycle_count_t nextAt;  // the wire is free from this cycle
  uint8_t buf[64];
  ssize_t n = len <= 256 - sizeof buf ? read(master, buf, sizeof buf) : 0;
  if (n > 0) {
    double now = nowReal();
    for (ssize_t i = 0; i < n; i++, len++) {
      rxq[(head + len) % 256].b = buf[i];
      rxq[(head + len) % 256].readAt = now;
    }
  }
  if (len && xon && avr->cycle >= nextAt && startReal + emulatedUS() * 1e-6 >= rxq[head].readAt) {
    avr_raise_irq(uartIn, rxq[head].b);
    head = (head + 1) % 256;
    len--;
    nextAt = avr->cycle + byteCycles();
  }
}

// poll services stdin and the pty without blocking; returns 0 on quit or end of stdin.
static int service(void) {
  static char line[256];
  static size_t n;
  struct pollfd fds[1] = {{.fd = 0, .events = POLLIN}};
  if (poll(fds, 1, 0) > 0) {
    ssize_t r = read(0, line + n, sizeof line - 1 - n);
    if (r <= 0) return 0;
    n += r;
    char *nl;
    while ((nl = memchr(line, '\n', n))) {
      *nl = 0;
      if (!command(line)) return 0;
      size_t used = nl + 1 - line;
      memmove(line, nl + 1, n - used);
      n -= used;
    }
    if (n == sizeof line - 1) n = 0;
  }
  uartPace();
  receiveHost();
  return 1;
}

// logStderr keeps simavr's messages off stdout, which is the command channel.
// noSleep replaces simavr's own pacing of a sleeping CPU (a usleep per sleep): the run loop
// paces emulated time as a whole, and a sleeping CPU only lets it skip ahead.
static void noSleep(avr_t *a, avr_cycle_count_t howLong) { (void)a; (void)howLong; }

static void logStderr(avr_t *a, const int level, const char *format, va_list ap) {
  (void)a;
  if (level <= LOG_WARNING) vfprintf(stderr, format, ap);
}

// loadFirmware puts the firmware at path into flash: an Intel HEX file (.hex, what is flashed
// on a board) or the ELF it was linked as. Returns 0 on failure, having said why.
static int loadFirmware(const char *path) {
  size_t n = strlen(path);
  if (n > 4 && !strcmp(path + n - 4, ".hex")) {
    ihex_chunk_p chunks = NULL;
    int k = read_ihex_chunks(path, &chunks);
    if (k <= 0) { fprintf(stderr, "avrboard: %s: not an Intel HEX file with data\n", path); return 0; }
    for (int i = 0; i < k; i++) {
      if (chunks[i].baseaddr + chunks[i].size > avr->flashend + 1) {
        fprintf(stderr, "avrboard: %s: %u bytes at 0x%x do not fit the ATmega328P's flash\n", path, chunks[i].size, chunks[i].baseaddr);
        return 0;
      }
      avr_loadcode(avr, chunks[i].data, chunks[i].size, chunks[i].baseaddr);
    }
    free_ihex_chunks(chunks);
    return 1;
  }
  elf_firmware_t f = {0};
  if (elf_read_firmware(path, &f)) { fprintf(stderr, "avrboard: cannot read %s (want an ELF or a .hex)\n", path); return 0; }
  avr_load_firmware(avr, &f);
  return 1;
}

int main(int argc, char **argv) {
  int fast = 0;
  double seconds = 0;
  const char *elf = NULL;
  for (int i = 1; i < argc; i++) {
    if (!strcmp(argv[i], "-fast")) fast = 1;
    else if (!strcmp(argv[i], "-seconds") && i + 1 < argc) seconds = atof(argv[++i]);
    else elf = argv[i];
  }
  if (!elf) { fprintf(stderr, "usage: avrboard [-fast] [-seconds S] photodiode.elf|photodiode.hex\n"); return 2; }
  avr_global_logger_set(logStderr);
  avr = avr_make_mcu_by_name("atmega328p");
  if (!avr) return 1;
  avr_init(avr);
  avr->log = LOG_WARNING;
  if (!loadFirmware(elf)) return 1;
  avr->frequency = 16000000;
  avr->vcc = avr->avcc = avr->aref = 5000;
  avr->sleep = noSleep;

  openPTY();
  uint32_t flags = 0;  // no copy of the UART's bytes on stdout, which is the command channel
  avr_ioctl(avr, AVR_IOCTL_UART_GET_FLAGS('0'), &flags);
  flags &= ~AVR_UART_FLAG_STDIO;
  avr_ioctl(avr, AVR_IOCTL_UART_SET_FLAGS('0'), &flags);
  avr_irq_register_notify(avr_io_getirq(avr, AVR_IOCTL_UART_GETIRQ('0'), UART_IRQ_OUTPUT), onUARTOut, NULL);
  avr_irq_register_notify(avr_io_getirq(avr, AVR_IOCTL_UART_GETIRQ('0'), UART_IRQ_OUT_XON), onXon, NULL);
  avr_irq_register_notify(avr_io_getirq(avr, AVR_IOCTL_UART_GETIRQ('0'), UART_IRQ_OUT_XOFF), onXoff, NULL);
  uartIn = avr_io_getirq(avr, AVR_IOCTL_UART_GETIRQ('0'), UART_IRQ_INPUT);
  for (avr_io_t *io = avr->io_port; io; io = io->next) {
    if (!strcmp(io->kind, "uart") && ((avr_uart_t *)io)->name == '0') uart0 = (avr_uart_t *)io;
  }
  if (!uart0) { fprintf(stderr, "avrboard: simavr has no UART0\n"); return 1; }
  adc0 = avr_io_getirq(avr, AVR_IOCTL_ADC_GETIRQ, ADC_IRQ_ADC0);
  avr_irq_register_notify(avr_io_getirq(avr, AVR_IOCTL_ADC_GETIRQ, ADC_IRQ_OUT_TRIGGER), onTrigger, NULL);
  avr_register_io_write(avr, 0x7A, onADCSRA, NULL);  // ADCSRA, shared with simavr's ADC

  prctl(PR_SET_TIMERSLACK, 1UL);  // sleeps end on time, not up to 50 us late
  double start = startReal = nowReal();
  for (;;) {
    avr_cycle_count_t until = avr->cycle + 400;  // 25 us emulated between services
    while (avr->cycle < until) {
      int st = avr_run(avr);
      if (st == cpu_Done || st == cpu_Crashed) { fprintf(stderr, "avrboard: firmware stopped (state %d)\n", st); return 1; }
    }
    if (!service()) break;
    // Pacing: emulated time may lead real time by at most 20 us; beyond, sleep until real time
    // has caught up (an absolute deadline, with the timer slack at 1 ns, wakes within some
    // 10 us on an idle machine instead of usleep's 60-100). What jitter remains, the host's
    // clock sync sees as the line's.
    double target = start + emulatedUS() * 1e-6;
    if (!fast && target - nowReal() > 20e-6) {
      struct timespec ts = {.tv_sec = (time_t)target, .tv_nsec = (long)((target - (time_t)target) * 1e9)};
      while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) == EINTR) {}
    }
    if (seconds > 0 && emulatedUS() >= seconds * 1e6) break;
  }
  printf("cycles %llu real_s %.3f conversions %lu\n", (unsigned long long)avr->cycle, nowReal() - start, conversions);
  return 0;
}
