// avrboard: an emulated photodiode board. It runs the built firmware (ELF) on an ATmega328P at
// 16 MHz in simavr, paced to real time, with its UART0 on a new pseudo-terminal that the host
// opens like any serial port, and its A0 input driven by commands on stdin.
//
// Usage: avrboard [-fast] [-seconds S] photodiode.elf
// Prints "pty <path>" once the pty exists. Commands on stdin, one a line:
//   level <mV>   set A0 to mV (0..5000) now; answered "at <emulated us> <mV> <lag us>": the ground
//                truth, and how far emulated time is behind real time (it grows while the
//                machine starves the emulator, which then catches up by running unpaced)
//   noise <mV>   Gaussian noise (standard deviation) added to every ADC conversion
//   quit         exit
// -fast runs unpaced (for the emulation-speed figure); -seconds stops after S emulated seconds
// and prints "cycles <n> real_s <s>".
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include <simavr/avr_adc.h>
#include <simavr/avr_uart.h>
#include <simavr/sim_avr.h>
#include <simavr/sim_elf.h>
#include <simavr/sim_irq.h>

static avr_t *avr;
static int master = -1;
static double levelMV, noiseMV;
static double startReal;           // real time of the run loop's start, emulated time 0
static int xon = 1;                 // the firmware's UART can take a byte
static avr_irq_t *uartIn, *adc0;

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

// onTrigger runs at the start of every ADC conversion: it sets A0 to the light level plus noise.
static void onTrigger(struct avr_irq_t *irq, uint32_t value, void *param) {
  (void)irq; (void)value; (void)param;
  double mv = levelMV + noiseMV * gauss();
  mv = mv < 0 ? 0 : mv > 5000 ? 5000 : mv;
  avr_raise_irq(adc0, (uint32_t)(mv + 0.5));
}

static void onUARTOut(struct avr_irq_t *irq, uint32_t value, void *param) {
  (void)irq; (void)param;
  uint8_t b = value;
  if (write(master, &b, 1) != 1) { perror("avrboard: write pty"); exit(1); }
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
static int command(char *line) {
  double v;
  if (sscanf(line, "level %lf", &v) == 1) {
    levelMV = v;
    double emu = emulatedUS();
    printf("at %.3f %.1f %.1f\n", emu, v, (nowReal() - startReal) * 1e6 - emu);
    fflush(stdout);
  } else if (sscanf(line, "noise %lf", &v) == 1) {
    noiseMV = v;
  } else if (strncmp(line, "quit", 4) == 0) {
    return 0;
  } else {
    fprintf(stderr, "avrboard: unknown command %s", line);
  }
  return 1;
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
  if (xon) {
    uint8_t b;
    if (read(master, &b, 1) == 1) avr_raise_irq(uartIn, b);
  }
  return 1;
}

// logStderr keeps simavr's messages off stdout, which is the command channel.
static void logStderr(avr_t *a, const int level, const char *format, va_list ap) {
  (void)a;
  if (level <= LOG_WARNING) vfprintf(stderr, format, ap);
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
  if (!elf) { fprintf(stderr, "usage: avrboard [-fast] [-seconds S] photodiode.elf\n"); return 2; }
  avr_global_logger_set(logStderr);
  elf_firmware_t f = {0};
  if (elf_read_firmware(elf, &f)) { fprintf(stderr, "avrboard: cannot read %s\n", elf); return 1; }
  avr = avr_make_mcu_by_name("atmega328p");
  if (!avr) return 1;
  avr_init(avr);
  avr->log = LOG_WARNING;
  avr_load_firmware(avr, &f);
  avr->frequency = 16000000;
  avr->vcc = avr->avcc = avr->aref = 5000;

  openPTY();
  uint32_t flags = 0;  // no copy of the UART's bytes on stdout, which is the command channel
  avr_ioctl(avr, AVR_IOCTL_UART_GET_FLAGS('0'), &flags);
  flags &= ~AVR_UART_FLAG_STDIO;
  avr_ioctl(avr, AVR_IOCTL_UART_SET_FLAGS('0'), &flags);
  avr_irq_register_notify(avr_io_getirq(avr, AVR_IOCTL_UART_GETIRQ('0'), UART_IRQ_OUTPUT), onUARTOut, NULL);
  avr_irq_register_notify(avr_io_getirq(avr, AVR_IOCTL_UART_GETIRQ('0'), UART_IRQ_OUT_XON), onXon, NULL);
  avr_irq_register_notify(avr_io_getirq(avr, AVR_IOCTL_UART_GETIRQ('0'), UART_IRQ_OUT_XOFF), onXoff, NULL);
  uartIn = avr_io_getirq(avr, AVR_IOCTL_UART_GETIRQ('0'), UART_IRQ_INPUT);
  adc0 = avr_io_getirq(avr, AVR_IOCTL_ADC_GETIRQ, ADC_IRQ_ADC0);
  avr_irq_register_notify(avr_io_getirq(avr, AVR_IOCTL_ADC_GETIRQ, ADC_IRQ_OUT_TRIGGER), onTrigger, NULL);

  double start = startReal = nowReal();
  for (;;) {
    avr_cycle_count_t until = avr->cycle + 800;  // 50 us emulated between services
    while (avr->cycle < until) {
      int st = avr_run(avr);
      if (st == cpu_Done || st == cpu_Crashed) { fprintf(stderr, "avrboard: firmware stopped (state %d)\n", st); return 1; }
    }
    if (!service()) break;
    double ahead = emulatedUS() * 1e-6 - (nowReal() - start);
    // Pacing: emulated time may lead real time by at most 100 us (a sleep costs about 60 us
    // of its own); the host's clock sync sees the rest as jitter.
    if (!fast && ahead > 100e-6) usleep((useconds_t)(ahead * 1e6));
    if (seconds > 0 && emulatedUS() >= seconds * 1e6) break;
  }
  printf("cycles %llu real_s %.3f\n", (unsigned long long)avr->cycle, nowReal() - start);
  return 0;
}
