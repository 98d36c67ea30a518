// xt-evdev: the key presses and pointer events the guest's own input devices deliver (Linux evdev),
// for the checks that keys typed and pointer moves and clicks made in a vGPU's VNC console reach the
// guest. Built static.
//
//   xt-evdev COUNT TIMEOUT_S
//
// Opens every /dev/input/event*, prints "GUEST-EVDEV-READY devices=N" once it listens, then, after
// COUNT key presses (EV_KEY, value 1, keyboard codes below BTN_MISC) or TIMEOUT_S seconds, and one
// more second for events still on their way, "GUEST-KEYS n=N codes=C1,C2,..." (Linux key codes in
// arrival order) and "GUEST-POINTER buttons=B1,B2,... rel=DX,DY" (mouse button presses in arrival
// order, the sums of the relative motion). It prints values only: dom0 compares them with what the
// VNC client sent.
#include <errno.h>
#include <fcntl.h>
#include <linux/input.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define MAX_DEVICES 32
#define MAX_KEYS 64
#define MAX_BUTTONS 16

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int main(int argc, char** argv) {
  if (argc != 3) {
    fprintf(stderr, "usage: xt-evdev COUNT TIMEOUT_S\n");
    return 2;
  }
  int want = atoi(argv[1]);
  const double deadline = now_s() + atof(argv[2]);
  if (want < 1 || want > MAX_KEYS) want = MAX_KEYS;
  struct pollfd fds[MAX_DEVICES];
  int n = 0;
  for (int i = 0; i < MAX_DEVICES; ++i) {
    char path[64];
    snprintf(path, sizeof path, "/dev/input/event%d", i);
    int fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0) continue;
    fds[n].fd = fd;
    fds[n].events = POLLIN;
    ++n;
  }
  printf("GUEST-EVDEV-READY devices=%d\n", n);
  fflush(stdout);
  int codes[MAX_KEYS];
  int got = 0;
  int buttons[MAX_BUTTONS];
  int clicks = 0;
  long rel_x = 0, rel_y = 0;
  double end = deadline;
  while (n > 0) {
    if (got >= want && end == deadline) end = now_s() + 1.0;
    const double left = end - now_s();
    if (left <= 0) break;
    int r = poll(fds, (nfds_t)n, (int)(left * 1000) + 1);
    if (r < 0 && errno != EINTR) break;
    for (int i = 0; i < n; ++i) {
      if (!(fds[i].revents & POLLIN)) continue;
      struct input_event ev;
      while (read(fds[i].fd, &ev, sizeof ev) == (ssize_t)sizeof ev) {
        if (ev.type == EV_KEY && ev.value == 1 && ev.code < BTN_MISC && got < want) codes[got++] = ev.code;
        if (ev.type == EV_KEY && ev.value == 1 && ev.code >= BTN_MOUSE && ev.code < BTN_JOYSTICK &&
            clicks < MAX_BUTTONS)
          buttons[clicks++] = ev.code;
        if (ev.type == EV_REL && ev.code == REL_X) rel_x += ev.value;
        if (ev.type == EV_REL && ev.code == REL_Y) rel_y += ev.value;
      }
    }
  }
  printf("GUEST-KEYS n=%d codes=", got);
  for (int i = 0; i < got; ++i) printf("%s%d", i ? "," : "", codes[i]);
  printf("\n");
  printf("GUEST-POINTER buttons=");
  for (int i = 0; i < clicks; ++i) printf("%s%d", i ? "," : "", buttons[i]);
  printf(" rel=%ld,%ld\n", rel_x, rel_y);
  return 0;
}
